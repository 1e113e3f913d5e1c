"""The server's logs: one line per event, plain text (the default) or JSON, each with the id
of the connection or HTTP request it concerns, and never a token, secret or message text.

::

    pchat serve --log-format json        (or PCHAT_LOG_FORMAT=json; PCHAT_LOG_LEVEL=debug)

    {"ts":"2025-06-01T12:00:00.123Z","level":"info","logger":"pchat.server.ws",
     "msg":"connection closed by the server","conn":"5f0c…","req":"9a1e…","code":4001,
     "code_name":"SLOW_CONSUMER"}

- :func:`configure` installs one handler on the root logger, writing to stderr (the journal,
  ``docker logs``, ``kubectl logs``), with :class:`JsonFormatter` or :class:`TextFormatter`.
- Ids come from a context variable: :func:`bind` (``conn=`` the core's session id, set by the
  WebSocket handler for the life of its connection; ``req=`` a request id, set by
  :func:`request_ids` for each HTTP request, taken from a trusted proxy's ``X-Request-Id``
  such as nginx's ``$request_id``, else made here, and sent back in ``X-Request-Id``).
- Fields of an event are the record's ``extra`` (``log.info("…", extra={"code": 4001})``):
  JSON keys, or ``key=value`` after the text.
- Nothing that could carry a token or a message is logged by pchat's own code; as a second
  line of defence every formatted line passes through :func:`redact`, which masks anything
  shaped like a JWT (``eyJ….eyJ…``), an API secret (``sk_…``), a webhook secret
  (``whsec_…``) and the secrets of the settings (the pre-send hook's). The test suite checks
  every log it produces, before this masking, for all of them (tests/logscan.py).
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from .edge import TrustedProxies, client_address

__all__ = [
    "CLIENT",
    "FORMATS",
    "LEVELS",
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "WEBSOCKET",
    "JsonFormatter",
    "TextFormatter",
    "bind",
    "configure",
    "current",
    "echo_request_id",
    "redact",
    "request_ids",
    "unbind",
    "valid_request_id",
]

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
REQUEST_ID_HEADER = "X-Request-Id"

#: The ids of what is being handled in this task (``conn``, ``req``).
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "pchat_log_context", default=MappingProxyType({})
)

#: Attributes every LogRecord has: the rest of a record's ``__dict__`` is its ``extra``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)

_SECRET_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"  # a JWT (header.payload.sig)
    r"|(?<![A-Za-z0-9])(?:sk|whsec)_[A-Za-z0-9_-]+"  # an API secret, a webhook secret
)
_IDS = ("conn", "req")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

#: A request's id (what its lines carry as ``req``).
REQUEST_ID = web.RequestKey("request_id", str)
#: The caller's address: behind a trusted proxy, from ``X-Forwarded-For``.
CLIENT = web.RequestKey("client", str)
#: Set by the WebSocket handler: its request is logged as the connection's events.
WEBSOCKET = web.RequestKey("websocket", bool)


def valid_request_id(given: str) -> bool:
    """Whether a proxy's ``X-Request-Id`` is one pchat keeps (a short plain token)."""
    return _REQUEST_ID.fullmatch(given) is not None


def bind(**ids: str) -> contextvars.Token[Mapping[str, str]]:
    """Attach ``ids`` (``conn=…``, ``req=…``) to every line logged from this task from now
    on (and from tasks it starts); :func:`unbind` with the returned token ends it."""
    return _context.set({**_context.get(), **ids})


def unbind(token: contextvars.Token[Mapping[str, str]]) -> None:
    _context.reset(token)


def current() -> Mapping[str, str]:
    """The ids bound in this task."""
    return _context.get()


class _Redactor:
    """Masks secret-shaped text and the known secrets of this process."""

    def __init__(self) -> None:
        self.known: tuple[str, ...] = ()

    def __call__(self, text: str) -> str:
        text = _SECRET_SHAPES.sub(_mask, text)
        for secret in self.known:
            if secret in text:
                text = text.replace(secret, "[secret]")
        return text


def _mask(match: re.Match[str]) -> str:
    found = match.group(0)
    return "[token]" if found.startswith("eyJ") else found.partition("_")[0] + "_[secret]"


#: ``redact(text)``: ``text`` with anything secret-shaped, and the known secrets, masked.
redact = _Redactor()


def _utc(created: float) -> str:
    """``2025-06-01T12:00:00.123Z``"""
    stamp = datetime.fromtimestamp(created, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


def _with_ids(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """The record factory that puts the task's ids (``conn``, ``req``) on every record, for
    every handler (the tests' capture too), not only the one :func:`configure` installs."""
    if getattr(factory, "pchat_ids", False):
        return factory

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.__dict__.update(_context.get())
        return record

    make.pchat_ids = True  # type: ignore[attr-defined]
    return make


logging.setLogRecordFactory(_with_ids(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ms), ``level``, ``logger``, ``msg``, the ids,
    the event's fields, ``exc`` (a traceback, as one string) — and the ``static`` fields."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.static,
        }
        for key, value in _extras(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return redact(orjson.dumps(line, default=str).decode())


class TextFormatter(logging.Formatter):
    """``2025-06-01 12:00:00,123 INFO pchat.server.ws: text key=value … conn=… req=…``
    (tracebacks on the lines after it, as Python prints them)."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extras(record)
        ids = {k: extras.pop(k) for k in _IDS if k in extras}  # the ids last
        fields = " ".join(f"{k}={_text_value(v)}" for k, v in {**extras, **ids}.items())
        if fields:
            head, newline, rest = text.partition("\n")
            text = f"{head} {fields}{newline}{rest}"
        return redact(text)


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return orjson.dumps(text).decode()
    return text


def configure(
    fmt: str = "text",
    level: str = "info",
    *,
    static: Mapping[str, Any] | None = None,
    known_secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Log every record of ``level`` and above to ``stream`` (stderr) in ``fmt``; replaces
    the handlers of ``logger`` (the root logger). ``static`` fields go on every line (a
    worker's index); ``known_secrets`` are masked wherever they appear."""
    if fmt not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if level.lower() not in LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}, not {level!r}")
    redact.known = tuple(s for s in known_secrets if s)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(static))
    else:
        prefix = "".join(f"{k}={v} " for k, v in (static or {}).items())
        handler.setFormatter(TextFormatter(prefix))
    root = logging.getLogger() if logger is None else logger
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's own access log is off (pchat logs requests itself, below).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("pchat.server.http")


def request_ids(proxies: TrustedProxies) -> Middleware:
    """Middleware: give each HTTP request an id (a trusted proxy's ``X-Request-Id``, else a
    new one), bind it to the lines logged while it is handled, send it back in
    ``X-Request-Id``, and log the request — at DEBUG, or WARNING for a 5xx but 503 — with
    its method, path (never the query: it may name a user), status, duration and caller
    (behind a trusted proxy, from ``X-Forwarded-For``: ``request[CLIENT]``). The
    WebSocket's request is logged by the WebSocket handler, as its connection's events."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        trusted = request.remote in proxies and valid_request_id(given)
        rid = given if trusted else secrets.token_hex(8)
        request[REQUEST_ID] = rid
        request[CLIENT] = client_address(request, proxies)
        token = bind(req=rid)
        start = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if not request.get(WEBSOCKET):
                _log_request(request, status, time.monotonic() - start)
            unbind(token)

    return middleware


def _log_request(request: web.Request, status: int, seconds: float) -> None:
    # 503 is deliberate (degraded, draining, a store that does not answer: logged where
    # it happens); any other 5xx is a fault.
    level = logging.WARNING if status >= 500 and status != 503 else logging.DEBUG
    if log.isEnabledFor(level):
        fields = {
            "method": request.method,
            "path": request.path,
            "status": status,
            "client": request.get(CLIENT),
        }
        log.log(level, "http request", extra={**fields, "ms": round(seconds * 1000, 1)})


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the request's id in the response's ``X-Request-Id``."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers[REQUEST_ID_HEADER] = rid
