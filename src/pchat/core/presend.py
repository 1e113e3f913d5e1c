"""The pre-send hook: an operator's check that sees every message before it is published.

Theory of operation. A ``send`` that passed validation, the write guard (bans, room modes,
the word filter) and the rate limits is shown to the operator's hook as a :class:`Draft`,
before the store. The hook answers a :class:`Decision`:

- ``allow``: the message goes on as it is;
- ``reject``: the sender's ``send`` fails with ``126`` (``rejected``), the hook's reason as
  the error's message; nothing is stored or published;
- ``rewrite``: the hook's text replaces the message's, after the same validation as a
  client's text (length, empty, bidi controls); mentions are read from the new text.

The hook has ``timeout_ms`` (500 by default) to answer, connecting included. When it does
not answer in time or fails — cannot be reached, an HTTP error, an answer that is not one
of the three, a rewrite that is not a valid text — the failure policy decides: ``publish``
(the message goes on unchanged, as if there were no hook) or ``reject`` (the ``send`` fails
with ``120``, ``unavailable``: temporary, the client may retry with the same ``cid``).
Failures are logged, at most one line per :data:`_LOG_EVERY_S` seconds with a count.

The hook runs before a message is held for review or by the chat delay, so what is held
is what the hook let through (rewritten, if it rewrote); approving or releasing it later
does not ask the hook again. Messages the operator's own server API publishes — as the
system user or as a user it names — are not shown to it (:meth:`Presend.applies`): the
operator's backend wrote them, and can check them before it calls the API.

The core does no HTTP: :class:`PresendHook` is what it needs, and the server implements it
(:mod:`pchat.server.presend_hook`, signed POSTs to ``PCHAT_PRESEND_HOOK_URL``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from pchat.protocol.codes import ErrorCode
from pchat.protocol.errors import PChatError, RequestError, request_error
from pchat.protocol.models import User
from pchat.protocol.validation import validate_text

from .session import Session

__all__ = [
    "ACTIONS",
    "MAX_REASON_CHARS",
    "ON_FAILURE",
    "SERVER_API_REMOTE",
    "Decision",
    "Draft",
    "HookError",
    "Presend",
    "PresendHook",
]

log = logging.getLogger(__name__)

#: What a hook may answer.
ACTIONS: Final = ("allow", "reject", "rewrite")
#: What the failure policy may say.
ON_FAILURE: Final = ("publish", "reject")
#: A rejection's reason is cut to this many characters.
MAX_REASON_CHARS: Final = 200
#: The error message of a rejection that gave no reason.
DEFAULT_REASON: Final = "the message was rejected"
#: The ``remote`` of the sessions in which the operator's server API runs its requests
#: (:mod:`pchat.server.admin.actor`); a connection's is its peer's address, never this.
SERVER_API_REMOTE: Final = "server-api"
#: At most one log line about failing hook calls per so many seconds.
_LOG_EVERY_S: Final = 10.0

Action = Literal["allow", "reject", "rewrite"]


class HookError(PChatError):
    """The hook did not answer usably: unreachable, an HTTP error, a malformed answer."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A message about to be published, as the hook sees it."""

    room_id: str
    user: User
    #: The text after validation and the word filter's masking.
    text: str
    cid: str | None = None
    reply_to: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of the hook's request."""
        return {
            "type": "presend",
            "room": self.room_id,
            "user": self.user.to_wire(),
            "text": self.text,
            "cid": self.cid,
            "reply_to": self.reply_to,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The hook's answer: ``allow``, ``reject`` with a ``reason``, or ``rewrite`` to
    ``text``."""

    action: Action
    reason: str = ""
    text: str = ""

    @classmethod
    def from_wire(cls, data: object) -> Decision:
        """Read a hook's JSON answer; raise :class:`HookError` if it is not one of
        ``{"action": "allow"}``, ``{"action": "reject", "reason"?: str}`` and
        ``{"action": "rewrite", "text": str}`` (other fields are ignored)."""
        if not isinstance(data, dict):
            raise HookError("the answer is not a JSON object")
        action = data.get("action")
        if action == "allow":
            return cls("allow")
        if action == "reject":
            reason = data.get("reason", "")
            if reason is None:
                reason = ""
            if not isinstance(reason, str):
                raise HookError("a rejection's reason is not a string")
            return cls("reject", reason=reason.strip()[:MAX_REASON_CHARS])
        if action == "rewrite":
            text = data.get("text")
            if not isinstance(text, str):
                raise HookError("a rewrite without a text")
            return cls("rewrite", text=text)
        raise HookError(f"unknown action {str(action)[:40]!r}")


class PresendHook(Protocol):
    """Asks the operator about a message. Raises :class:`HookError` (or any exception) when
    it cannot tell; the caller bounds the time it takes."""

    async def check(self, draft: Draft) -> Decision: ...


class Presend:
    """A hook with its time budget and failure policy: what :class:`~pchat.core.messages.
    Messages` asks before it stores a message."""

    def __init__(
        self, hook: PresendHook, *, timeout_ms: int, on_failure: str, max_chars: int
    ) -> None:
        if on_failure not in ON_FAILURE:
            raise ValueError(
                f"presend_hook_on_failure must be publish or reject, not {on_failure!r}"
            )
        if timeout_ms <= 0:
            raise ValueError("presend_hook_timeout_ms must be positive")
        self._hook = hook
        self._timeout = timeout_ms / 1000
        self._publish_on_failure = on_failure == "publish"
        self._max_chars = max_chars
        self._failures = 0  # since the last log line
        self._logged_at = -_LOG_EVERY_S

    @staticmethod
    def applies(session: Session) -> bool:
        """Whether a message sent in ``session`` is shown to the hook: every client's, not
        those the operator's server API publishes."""
        return session.remote != SERVER_API_REMOTE

    async def screen(self, draft: Draft) -> str:
        """The text to publish: the draft's, or the hook's rewrite. Raises ``rejected``
        (126) when the hook rejects, ``unavailable`` (120) when it failed and the policy is
        ``reject``."""
        try:
            async with asyncio.timeout(self._timeout):
                decision = await self._hook.check(draft)
            if decision.action == "rewrite":
                return self._valid(decision.text)
        except TimeoutError:
            return self._failed(draft, f"no answer within {self._timeout * 1000:g} ms")
        except HookError as exc:
            return self._failed(draft, str(exc))
        except Exception as exc:  # a bug of the hook's client: the policy still decides
            log.exception("the pre-send hook's client failed")
            return self._failed(draft, repr(exc))
        if decision.action == "reject":
            raise request_error(ErrorCode.REJECTED, decision.reason or DEFAULT_REASON)
        return draft.text

    def _valid(self, text: str) -> str:
        """A rewrite's text, validated as a client's; else :class:`HookError`."""
        try:
            return validate_text(text, self._max_chars)
        except RequestError as exc:
            raise HookError(f"the rewrite is not a valid text: {exc.message}") from exc

    def _failed(self, draft: Draft, why: str) -> str:
        self._failures += 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            log.warning(
                "pre-send hook failed %d time(s) (last: %s, room %s); policy: %s",
                self._failures,
                why,
                draft.room_id,
                "publish" if self._publish_on_failure else "reject",
            )
            self._failures = 0
            self._logged_at = now
        if self._publish_on_failure:
            return draft.text
        raise request_error(ErrorCode.UNAVAILABLE, "the message could not be checked; try again")
