"""Compact JWS (RFC 7515 §7.1) parsing and HS256 signatures, for :mod:`pchat.core.tokens`.

Theory of operation. A connect checks its token once, and a join storm checks thousands a
second: PyJWT's generic path decoded every token twice, merged options, looked the
algorithm up and prepared the key on each call, and checked the base64 alphabet one
character at a time in Python. This module does the same checks once, in C where it can:

- :func:`split` takes a token apart exactly as PyJWT 2.x does (``header.payload.signature``,
  the first and last dots; base64url segments, up to two ``=`` of padding, canonical
  trailing bits; a header that is a JSON object whose ``kid`` is a string and whose
  ``crit`` lists only a present ``b64``) and refuses what PyJWT refuses, returning None.
  One regular expression checks the shape and the alphabet of the three segments.
- Headers repeat: every token a key signs carries the same header segment. A well-formed
  HS256 header is parsed once and kept (:data:`HEADER_CACHE_SIZE` of them, the oldest
  dropped first); any other header is parsed each time, as before.
- :class:`HS256Key` keeps the keyed HMAC-SHA-256 state, so a signature costs two SHA-256
  compressions of the signing input and a constant-time comparison.

Headers are read with the standard :mod:`json`, as PyJWT reads them (they are cached, so
their cost does not matter); payloads are read by :mod:`pchat.core.tokens`.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["HEADER_CACHE_SIZE", "HS256Key", "Header", "Parts", "b64url_decode", "split"]

#: How many distinct well-formed header segments :func:`split` keeps parsed.
HEADER_CACHE_SIZE = 256

# Three base64url segments, each with at most two "=" of padding, joined by two dots. A
# str pattern: [A-Za-z0-9] ranges match ASCII only, so a token that matches is ASCII.
_COMPACT = re.compile(r"([A-Za-z0-9_-]*={0,2})\.([A-Za-z0-9_-]*={0,2})\.([A-Za-z0-9_-]*={0,2})")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# The last character of a canonical encoding that leaves 2 (or 3) characters over: its
# unused low bits are zero. PyJWT refuses the other characters there (re-encoding differs).
_LAST_OF_2 = frozenset("AQgw")
_LAST_OF_3 = frozenset("AEIMQUYcgkosw048")


@dataclass(frozen=True, slots=True)
class Header:
    """What the verifier reads of a JOSE header (only from a well-formed one)."""

    #: ``alg`` as written (any JSON value), None if absent.
    alg: Any
    #: ``kid``, "" if absent (a present ``kid`` is a string, or the token is malformed).
    kid: str
    #: ``"b64": false`` (RFC 7797): an unencoded, detached payload, which pchat refuses.
    detached: bool


@dataclass(frozen=True, slots=True)
class Parts:
    """A compact JWS taken apart: what is signed, the header, the payload, the signature."""

    signing_input: bytes
    header: Header
    payload: bytes
    signature: bytes


def b64url_decode(segment: str) -> bytes | None:
    """The bytes of a base64url segment already matched by ``[A-Za-z0-9_-]*={0,2}``, or
    None where PyJWT refuses it: padding on a length that is not a multiple of 4, a length
    that leaves one character over, non-zero trailing bits."""
    stripped = segment.rstrip("=")
    if len(stripped) != len(segment) and len(segment) % 4:
        return None
    over = len(stripped) % 4
    if over == 1:
        return None
    if (over == 2 and stripped[-1] not in _LAST_OF_2) or (
        over == 3 and stripped[-1] not in _LAST_OF_3
    ):
        return None
    return binascii.a2b_base64(stripped.encode("ascii").translate(_TO_STANDARD) + _PADDING[over])


_headers: dict[str, Header] = {}


def split(token: str) -> Parts | None:
    """The parts of a compact JWS, or None if PyJWT would refuse it as malformed."""
    match = _COMPACT.fullmatch(token)
    if match is None:
        return None
    header_segment, payload_segment, signature_segment = match.groups()
    header = _headers.get(header_segment)
    if header is None:
        header = _parse_header(header_segment)
        if header is None:
            return None
    if header.detached:
        # PyJWT does not decode the payload segment of a b64=false header: it must be empty.
        if payload_segment:
            return None
        payload: bytes | None = b""
    else:
        payload = b64url_decode(payload_segment)
    signature = b64url_decode(signature_segment)
    if payload is None or signature is None:
        return None
    signed = len(header_segment) + 1 + len(payload_segment)
    return Parts(token[:signed].encode("ascii"), header, payload, signature)


def _parse_header(segment: str) -> Header | None:
    data = b64url_decode(segment)
    if data is None:
        return None
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or not _valid_header(fields):
        return None
    header = Header(fields.get("alg"), fields.get("kid", ""), fields.get("b64", True) is False)
    if header.alg == "HS256" and not header.detached:
        # The one kind of header that verifies: parsed once, kept.
        if len(_headers) >= HEADER_CACHE_SIZE:
            _headers.pop(next(iter(_headers)), None)
        _headers[segment] = header
    return header


def _valid_header(fields: dict[str, Any]) -> bool:
    """PyJWT's header checks: ``kid`` a string; ``crit`` a non-empty list of strings, each
    ``b64`` (the one extension it knows) and present in the header."""
    if "kid" in fields and not isinstance(fields["kid"], str):
        return False
    if "crit" not in fields:
        return True
    crit = fields["crit"]
    return (
        isinstance(crit, list)
        and len(crit) > 0
        and all(isinstance(ext, str) and ext == "b64" and ext in fields for ext in crit)
    )


class HS256Key:
    """An HMAC-SHA-256 key, keyed once (RFC 2104's padded key block hashed once)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def sign(self, signing_input: bytes) -> bytes:
        """The 32-byte HS256 signature of ``signing_input``."""
        mac = self._keyed.copy()
        mac.update(signing_input)
        return mac.digest()

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` signs ``signing_input``, compared in constant time."""
        return hmac.compare_digest(self.sign(signing_input), signature)
