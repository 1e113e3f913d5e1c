"""The direct HS256 verifier (pchat.core.jws) against the PyJWT path it replaced.

``reference_verify`` is :meth:`TokenSigner.verify` as it was, on PyJWT's ``PyJWS``: every
token here, hand-made or mutated at random, must get the same verdict from both — the
same claims, or the same refusal code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from typing import Any

import jwt
import pytest
from jwt.exceptions import InvalidSignatureError, InvalidTokenError

from pchat.core import jws
from pchat.core.tokens import (
    ALGORITHM,
    MAX_TIME_CLAIM,
    MAX_TOKEN_LENGTH,
    TokenClaims,
    TokenSigner,
    _json_object,
    _parse_int,
)
from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import TokenError, request_error
from pchat.storage.base import SigningKey

NOW = 1_700_000_000.0
ISSUER = "pchat-test"
KEY = SigningKey(kid="k1", secret=b"s" * 32, created_at=1)
OLD = SigningKey(kid="k0", secret=b"t" * 32, created_at=0)
_JWS = jwt.PyJWS(algorithms=["HS256"], options={"enforce_minimum_key_length": True})


def reference_verify(signer: TokenSigner, token: Any, now: float) -> TokenClaims:
    """The verifier before issue 14, on PyJWT (kept here as the specification)."""

    def refuse(code: ErrorCode, message: str) -> Any:
        raise request_error(code, message)

    keys = {k.kid: k for k in (KEY, OLD)}
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        refuse(ErrorCode.TOKEN_MALFORMED, "token is not a JWT")
    try:
        header = _JWS.get_unverified_header(token)
    except InvalidTokenError:
        refuse(ErrorCode.TOKEN_MALFORMED, "token is not a JWT")
    if header.get("alg") != ALGORITHM:
        refuse(ErrorCode.TOKEN_BAD_ALGORITHM, "")
    key = keys.get(header.get("kid", ""))
    if key is None:
        refuse(ErrorCode.TOKEN_UNKNOWN_KEY, "")
    try:
        decoded = _JWS.decode_complete(token, key.secret, algorithms=[ALGORITHM])
    except InvalidSignatureError:
        refuse(ErrorCode.TOKEN_BAD_SIGNATURE, "")
    except InvalidTokenError:
        refuse(ErrorCode.TOKEN_MALFORMED, "")
    try:
        claims = json.loads(decoded["payload"], parse_int=_parse_int)
    except (ValueError, RecursionError):
        claims = None
    if not isinstance(claims, dict):
        refuse(ErrorCode.TOKEN_MALFORMED, "")
    return signer._check_claims(claims, key.kid, now)


def verdict(verify: Any, signer: TokenSigner, token: Any) -> Any:
    try:
        return verify(signer, token, NOW)
    except TokenError as exc:
        return exc.code


def new_verify(signer: TokenSigner, token: Any, now: float) -> TokenClaims:
    return signer.verify(token, now=now)


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner([OLD, KEY], issuer=ISSUER, ttl=60)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(signing_input: str, secret: bytes = KEY.secret) -> str:
    return b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def token_of(header: str | bytes, payload: str | bytes, secret: bytes = KEY.secret) -> str:
    """A token whose header and payload are these raw JSON texts, signed with ``secret``."""
    h = b64(header.encode() if isinstance(header, str) else header)
    p = b64(payload.encode() if isinstance(payload, str) else payload)
    return f"{h}.{p}.{sign(f'{h}.{p}', secret)}"


HEADER = '{"typ":"JWT","alg":"HS256","kid":"k1"}'
PAYLOAD = (
    f'{{"sub":"alice","iat":{int(NOW)},"nbf":{int(NOW)},"exp":{int(NOW) + 60},'
    f'"iss":"{ISSUER}","jti":"j"}}'
)


def payload_with(name: str, raw: str) -> str:
    fields = json.loads(PAYLOAD)
    parts = [f'"{k}":{json.dumps(v)}' for k, v in fields.items() if k != name]
    return "{" + ",".join([*parts, f'"{name}":{raw}']) + "}"


HEADERS = [
    HEADER,
    '{"alg":"HS256","kid":"k0"}',
    '{"alg":"HS256"}',
    '{"alg":"HS256","kid":"k9"}',
    '{"alg":"HS256","kid":7}',
    '{"alg":"HS256","kid":null}',
    '{"alg":"HS256","kid":["k1"]}',
    '{"alg":"none","kid":7}',
    '{"alg":"none","kid":"k1"}',
    '{"alg":"HS512","kid":"k1"}',
    '{"alg":["HS256"],"kid":"k1"}',
    '{"alg":null,"kid":"k1"}',
    '{"alg":"HS256","kid":"k1","alg":"none"}',
    '{"alg":"none","kid":"k1","alg":"HS256"}',
    '{"alg":"HS256","kid":"k1","b64":false}',
    '{"alg":"HS256","kid":"k1","b64":false,"crit":["b64"]}',
    '{"alg":"HS256","kid":"k9","b64":false,"crit":["b64"]}',
    '{"alg":"HS256","kid":"k1","b64":true,"crit":["b64"]}',
    '{"alg":"HS256","kid":"k1","b64":0}',
    '{"alg":"HS256","kid":"k1","crit":[]}',
    '{"alg":"HS256","kid":"k1","crit":"b64"}',
    '{"alg":"HS256","kid":"k1","crit":["exp"]}',
    '{"alg":"HS256","kid":"k1","crit":["b64"]}',
    '{"alg":"HS256","kid":"k1","crit":[1]}',
    '{"alg":"HS256","kid":"k1","n":1' + "0" * 5000 + "}",
    '{"alg":"HS256","kid":"k1","n":NaN}',
    '{"alg":"HS256","kid":"k1","n":"\\ud800"}',
    "[1]",
    '"HS256"',
    "null",
    "",
    "{",
    '{"alg":"HS256","kid":"k1"} x',
    "\ufeff" + HEADER,
    "[" * 5000 + "]" * 5000,
]

PAYLOADS = [
    PAYLOAD,
    "[1]",
    "null",
    "",
    "{}",
    '{"sub":"alice"}',
    PAYLOAD[:-1],
    PAYLOAD + "x",
    " " + PAYLOAD + "\n",
    "\ufeff" + PAYLOAD,
    payload_with("sub", '"alice","sub":"mallory"'),
    payload_with("sub", '"mallory","sub":"alice"'),
    payload_with("role", '"admin","role":"root"'),
    payload_with("role", '"moderator"'),
    payload_with("sub", '"\\ud800"'),
    payload_with("jti", '"\\ud800"'),
    payload_with("sub", "1" + "0" * 30),
    payload_with("iss", "1" + "0" * 25),
    payload_with("iss", "-9223372036854775809"),
    payload_with("jti", "[" * 3000 + "]" * 3000),
    payload_with("jti", "[" * 900 + "]" * 900),
    payload_with("nbf", "0.5"),
    payload_with("nbf", "-0"),
    payload_with("nbf", "-0.0"),
    payload_with("nbf", "1e-400"),
    payload_with("exp", "253402300799"),
    payload_with("exp", "253402300799.5"),
    payload_with("exp", "253402300800"),
    payload_with("exp", "9007199254740993"),
    payload_with("exp", str(int(NOW) - 100)),
    payload_with("nbf", str(int(NOW) + 100)),
    payload_with("iat", str(int(NOW) + 100)),
]
for _name in ("exp", "nbf", "iat"):
    for _raw in [
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1" + "0" * 24,
        "1" + "0" * 25,
        "1" + "0" * 400,
        "1" + "0" * 5000,
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "true",
        "null",
        '"1700000000"',
        "1700000000.999999",
    ]:
        PAYLOADS.append(payload_with(_name, _raw))


def corpus() -> list[Any]:
    tokens: list[Any] = [None, 42, b"x.y.z", "", ".", "..", "...", "x" * (MAX_TOKEN_LENGTH + 1)]
    tokens += [token_of(h, PAYLOAD) for h in HEADERS]
    tokens += [token_of(HEADER, p) for p in PAYLOADS]
    tokens += [token_of(HEADER, p.encode("utf-16")) for p in PAYLOADS[:3]]
    tokens += [token_of(HEADER, p.encode("utf-32")) for p in PAYLOADS[:3]]
    tokens.append(token_of(HEADER, PAYLOAD, OLD.secret))  # k1's header, k0's key
    tokens.append(token_of('{"alg":"HS256","kid":"k0"}', PAYLOAD, OLD.secret))
    good = token_of(HEADER, PAYLOAD)
    h, p, s = good.split(".")
    tokens += [
        good,
        f"{h}.{p}.",
        f"{h}.{p}",
        f"{h}.{p}.{s}.",
        f"{h}.{p}.{s}.{s}",
        f"{h}..{p}.{s}",
        f".{h}.{p}.{s}",
        f"{h}.{p}.{s}=",
        f"{h}.{p}.{s}==",
        f"{h}=.{p}.{s}",
        f"{h}.{p}=.{s}",
        f"{h}.{p}.{s[:-1]}",
        f"{h}.{p}.{s[:-2]}",
        f"{h}.{p}.{s}A",
        f"{h}.{p}.{s}AA",
        f" {good}",
        f"{good} ",
        f"{good}\n",
        good.replace("-", "+").replace("_", "/"),
        f"{h}.{p}.{b64(b'x' * 32)}",
        f"{h}.{p}.{b64(b'')}",
        f"{h}.{p}.é{s}",
        f"{h}.{p}.{s}\ud800",
        f"{h}.{p}.{s}\u0661",
        f"{h}.{p.upper()}.{s}",
    ]
    # A last character whose unused bits are set: the same bytes, a non-canonical encoding.
    for segment in ("h", "p", "s"):
        parts = {"h": h, "p": p, "s": s}
        text = parts[segment]
        if len(text) % 4 in (2, 3):
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            index = alphabet.index(text[-1])
            parts[segment] = text[:-1] + alphabet[index | 1]
            tokens.append(".".join(parts.values()))
    # Padded segments that PyJWT accepts, re-signed so only the padding differs.
    for pad_h, pad_p in [("=", ""), ("", "="), ("==", ""), ("", "=="), ("===", "")]:
        hp = f"{h}{pad_h}.{p}{pad_p}"
        tokens.append(f"{hp}.{sign(hp)}")
    return tokens


def test_every_hand_made_token_gets_the_reference_verdict(signer: TokenSigner) -> None:
    tokens = corpus()
    for token in tokens:
        if isinstance(token, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in token):
            continue  # the reference crashed on these: see the test below
        expected = verdict(reference_verify, signer, token)
        assert verdict(new_verify, signer, token) == expected, repr(token)[:200]
        # Twice: a header parsed and kept the first time changes nothing.
        assert verdict(new_verify, signer, token) == expected, repr(token)[:200]
    verdicts = {verdict(new_verify, signer, t) for t in tokens}
    # The corpus reaches every refusal and a few successes.
    assert {
        ErrorCode.TOKEN_MALFORMED,
        ErrorCode.TOKEN_BAD_ALGORITHM,
        ErrorCode.TOKEN_UNKNOWN_KEY,
        ErrorCode.TOKEN_BAD_SIGNATURE,
        ErrorCode.TOKEN_MISSING_CLAIM,
        ErrorCode.TOKEN_EXPIRED,
        ErrorCode.TOKEN_NOT_YET_VALID,
        ErrorCode.TOKEN_BAD_ISSUER,
        ErrorCode.TOKEN_BAD_CLAIM,
    } <= verdicts
    assert sum(isinstance(v, TokenClaims) for v in verdicts) >= 3


def test_a_lone_surrogate_is_malformed_not_a_crash(signer: TokenSigner) -> None:
    # PyJWT's str.encode("utf-8") raised UnicodeEncodeError here: an internal error.
    good = token_of(HEADER, PAYLOAD)
    for token in (good + "\ud800", "\udfff" + good, good.replace(".", "\ud800", 1)):
        with pytest.raises(UnicodeEncodeError):
            reference_verify(signer, token, NOW)
        assert verdict(new_verify, signer, token) == ErrorCode.TOKEN_MALFORMED


def test_randomly_mutated_tokens_get_the_reference_verdict(signer: TokenSigner) -> None:
    rng = random.Random(14)
    seeds = [t for t in corpus() if isinstance(t, str) and 0 < len(t) < 2000 and t.isprintable()]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ é"
    for _ in range(3000):
        token = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(token) + 1)
            action = rng.randrange(3)
            if action == 0 and where < len(token):
                del token[where]
            elif action == 1:
                token.insert(where, rng.choice(alphabet))
            elif where < len(token):
                token[where] = rng.choice(alphabet)
        text = "".join(token)
        expected = verdict(reference_verify, signer, text)
        assert verdict(new_verify, signer, text) == expected, text


def test_re_signed_random_payloads_get_the_reference_verdict(signer: TokenSigner) -> None:
    # Mutations of the JSON itself, re-signed so that they reach the payload reader.
    rng = random.Random(1414)
    pieces = ['"', "\\", "\\u", "d800", "1", "0" * 21, "e400", "-", ".", ",", "{", "}", "[", "]"]
    pieces += ["NaN", "null", ":", " ", "\x00", "é", '"sub"', '"exp"', "\ufeff", "\t"]
    for _ in range(3000):
        text = list(rng.choice(PAYLOADS))
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(text) + 1)
            text.insert(where, rng.choice(pieces))
            if rng.random() < 0.5 and where < len(text) - 1:
                del text[where + 1]
        payload = "".join(text).encode("utf-8", "surrogatepass")
        token = token_of(HEADER, payload)
        expected = verdict(reference_verify, signer, token)
        assert verdict(new_verify, signer, token) == expected, payload


@pytest.mark.parametrize(
    "text",
    [
        b"{}",
        b'{"a":1,"a":2}',
        b'{"a":18446744073709551615}',
        b'{"a":18446744073709551616}',
        b'{"a":-9223372036854775809}',
        b'{"a":1e400}',
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',
        b'{"a":"\xed\xa0\x80"}',
        b"\xef\xbb\xbf{}",
        b'{"a":[' + b"1," * 100 + b"1]}",
        b"[1]",
        b"1",
        b"",
    ],
)
def test_payload_reader_agrees_with_json_loads(text: bytes) -> None:
    try:
        expected = json.loads(text, parse_int=_parse_int)
    except ValueError:
        expected = None
    got = _json_object(text)
    if not isinstance(expected, dict):
        assert got is None
        return
    assert got is not None and got.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            # Beyond 64 bits orjson reads a float of the same sign: out of every time
            # claim's range, and not a string, exactly as the integer.
            assert isinstance(got[name], float) and (got[name] > 0) == (value > 0)
            assert abs(got[name]) >= 2**63 > MAX_TIME_CLAIM
        elif value != value:  # NaN
            assert got[name] != got[name]
        else:
            assert got[name] == value and type(got[name]) is type(value)


# The parts.


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("", b""),
        ("QQ", b"A"),
        ("QQ==", b"A"),
        ("QUI", b"AB"),
        ("QUI=", b"AB"),
        ("QUJD", b"ABC"),
        ("-_-_", base64.urlsafe_b64decode("-_-_")),
        ("Q", None),  # one character over
        ("QR", None),  # non-zero trailing bits
        ("QUJ", None),
        ("QQ=", None),  # padding on a length that is not a multiple of 4
        ("QUI==", None),
        ("QUJD=", None),
        ("==", None),
    ],
)
def test_b64url_decode(segment: str, expected: bytes | None) -> None:
    assert jws.b64url_decode(segment) == expected


def test_split_keeps_the_signing_input_as_written() -> None:
    token = token_of(HEADER, PAYLOAD)
    parts = jws.split(token)
    assert parts is not None
    assert parts.signing_input == token.rsplit(".", 1)[0].encode()
    assert parts.header == jws.Header("HS256", "k1", detached=False)
    assert parts.payload == PAYLOAD.encode()


@pytest.mark.parametrize(
    "token",
    ["a.b", "a.b.c.d", "QQ.QQ.QQ.", "QQ..QQ.QQ", "QQ.QQ.QQ ", "QQ.Q\u0661.QQ", "QQ.QQ.Q+"],
)
def test_split_refuses_other_shapes(token: str) -> None:
    assert jws.split(token) is None


def test_header_cache_is_bounded_and_keeps_only_verifiable_headers(signer: TokenSigner) -> None:
    jws._headers.clear()
    for i in range(jws.HEADER_CACHE_SIZE + 50):
        token = token_of(f'{{"alg":"HS256","kid":"x{i}"}}', PAYLOAD)
        assert verdict(new_verify, signer, token) == ErrorCode.TOKEN_UNKNOWN_KEY
    assert len(jws._headers) == jws.HEADER_CACHE_SIZE
    jws._headers.clear()
    for header in (
        '{"alg":"none","kid":"k1"}',
        '{"alg":"HS256","kid":"k1","b64":false,"crit":["b64"]}',
        '{"alg":"HS256","kid":"k1","crit":["b64"]}',  # b64 listed, not present: malformed
        '{"alg":"HS256","kid":7}',
    ):
        verdict(new_verify, signer, token_of(header, PAYLOAD))
    assert not jws._headers
    assert isinstance(verdict(new_verify, signer, token_of(HEADER, PAYLOAD)), TokenClaims)
    assert list(jws._headers.values()) == [jws.Header("HS256", "k1", detached=False)]


def test_hs256_key_is_rfc_2104_hmac_sha256() -> None:
    rng = random.Random(7)
    for size in (32, 64, 65, 200):
        secret = rng.randbytes(size)
        key = jws.HS256Key(secret)
        for length in (0, 1, 63, 64, 65, 1000):
            message = rng.randbytes(length)
            mac = hmac.digest(secret, message, "sha256")
            assert key.sign(message) == mac
            assert key.verify(message, mac)
            assert not key.verify(message, mac[:-1] + bytes([mac[-1] ^ 1]))
            assert not key.verify(message, mac[:16])


def test_rotated_keys_replace_the_macs(signer: TokenSigner) -> None:
    token = token_of(HEADER, PAYLOAD)
    assert signer.verify(token, now=NOW).kid == "k1"
    signer.set_keys([OLD])
    with pytest.raises(TokenError) as info:
        signer.verify(token, now=NOW)
    assert info.value.code == ErrorCode.TOKEN_UNKNOWN_KEY
    signer.set_keys([SigningKey(kid="k1", secret=b"z" * 32, created_at=2)])
    with pytest.raises(TokenError) as info:
        signer.verify(token, now=NOW)
    assert info.value.code == ErrorCode.TOKEN_BAD_SIGNATURE
