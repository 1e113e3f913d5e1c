"""The admin console's server side: operators sign in, and the browser gets a session, never
the API secret (docs/server-api.md, Console).

Theory of operation.

*Sign-in.* An operator signs in with a name and a password set by ``pchat console
password`` (a scrypt hash beside the keys: the keys file, or PostgreSQL in a cluster), or by
exchanging an API key and secret once. Failed password sign-ins are counted per caller
address (a :class:`~pchat.core.apikeys.FailureLimiter` with the token service's limits):
past the limit, 429 with ``Retry-After``, the right password included. Key sign-ins go
through the token service's own gate and budget.

*The session* is a cookie, ``HttpOnly``, ``SameSite=Strict``, ``Path=/public-chat/admin``,
``Secure`` over https: the page cannot read it and no other site's page sends it. Its value
is the session itself, sealed with an HMAC under a key derived from a token signing key
(:mod:`.sessions`), so any node of a cluster — they all hold the same signing keys — and
any worker opens it without a shared session table. It ends after
``PCHAT_CONSOLE_SESSION_IDLE`` (30 min) unused — each use seals a fresh "last used" into the
cookie — and ``PCHAT_CONSOLE_SESSION_MAX`` (8 h) after sign-in, whatever its use; a changed
password or a revoked API key ends the sessions opened with it.

*Sign-out* must end the session everywhere, though the cookie is self-contained: it is
revoked through the users' token revocations (:mod:`pchat.core.revocations`), under the id
``console-session:<sid>`` — stored in the message store that the nodes share, published to
every node at once and read again by each every second. Those are kept in memory for the
tokens' lifetime (``PCHAT_TOKEN_TTL``), so the idle time is capped at it: a signed-out
cookie is idle-expired before its revocation is forgotten.

*CSRF.* Every change (any method but GET/HEAD/OPTIONS) made with the cookie carries the
session's CSRF token in ``x-csrf-token`` (an HMAC of the session id, compared in constant
time), or is refused with 403; the page gets the token from ``GET …/session``. Sign-in is
the one change without it (there is no session yet).

*The server API* accepts the cookie in place of the API key headers
(:meth:`.http.ConsoleHttp.guard`, called by the API's auth middleware), so the console's
pages call the same ``/public-chat/admin/v1`` endpoints an operator's backend does.

*Rooms.* ``POST …/chat-token`` gives the operator a short-lived admin token
(``PCHAT_CONSOLE_TOKEN_TTL``, 300 s) for the user ``console:<operator>``, with which the
console joins a room through the TypeScript SDK to watch it live.
"""

from __future__ import annotations

from aiohttp import web

from ..admin.context import AdminContext
from .http import BASE, COOKIE, COOKIE_PATH, CSRF_HEADER, ConsoleHttp
from .service import Console

__all__ = ["BASE", "COOKIE", "COOKIE_PATH", "CSRF_HEADER", "Console", "ConsoleHttp", "console_for"]


def console_for(app: web.Application, ctx: AdminContext) -> ConsoleHttp:
    """The console of a server: its endpoints added to ``app``; pass its ``guard`` to the
    server API."""
    console = Console(
        ctx.settings,
        keys=ctx.keys,
        signer=ctx.signer,
        operators=ctx.operators,
        gate=ctx.gate,
        revocations=ctx.service.revocations,
    )
    http = ConsoleHttp(console, ctx.proxies)
    app.router.add_routes(http.routes())
    return http
