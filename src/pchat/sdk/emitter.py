"""A small event emitter: sync or async handlers, with or without a payload parameter.

Handlers are inspected once, when they are registered: a handler that takes no positional
parameter is called with none, any other with the event's payload. A handler that returns
an awaitable (a coroutine function) has it scheduled as a task. Whatever a handler raises,
synchronously or in its task, is logged and reported to the ``ERROR`` handlers as a
:class:`~pchat.sdk.events.HandlerError`; it never reaches the code that fired the event.
An exception raised by an ``ERROR`` handler itself is only logged.

Removal has the vendor SDK's five forms: ``remove_all_listeners()``,
``remove_all_listeners(event)``, ``remove_all_listeners([e1, e2])``, ``off(event, handler)``
and ``off([e1, e2], handler)``; ``off(event)`` without a handler removes every handler of the
event(s), and ``remove_listener`` is another name of ``off``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from .events import Events, HandlerError

__all__ = ["EventEmitter", "EventSpec", "Handler"]

log = logging.getLogger("pchat.sdk")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
#: One event, or several (a list, tuple or set) for ``on``/``off``/``remove_all_listeners``.
EventSpec = Events | str | Iterable[Events | str]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _takes_payload(handler: Handler) -> bool:
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass the payload
        return True
    return any(p.kind in _POSITIONAL or p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


def _events(spec: EventSpec) -> list[Events]:
    if isinstance(spec, str):
        return [Events(spec)]
    return [Events(e) for e in spec]


class _Listener:
    """One registration of a handler for one event."""

    __slots__ = ("handler", "once", "takes_payload")

    def __init__(self, handler: Handler, takes_payload: bool, once: bool) -> None:
        self.handler = handler
        self.takes_payload = takes_payload
        self.once = once


class EventEmitter:
    """Registers handlers per :class:`~pchat.sdk.events.Events` and fires them in order."""

    def __init__(self) -> None:
        # Per event, in registration order.
        self._handlers: dict[Events, list[_Listener]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

    @overload
    def on(self, event: EventSpec, handler: H) -> H: ...
    @overload
    def on(self, event: EventSpec, handler: None = None) -> Callable[[H], H]: ...

    def on(self, event: EventSpec, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for one or several events and return it.

        Without ``handler``, return a decorator: ``@sdk.on(Events.MESSAGE)``.
        """
        if handler is None:

            def decorator(func: H) -> H:
                return self.on(event, func)

            return decorator
        takes_payload = _takes_payload(handler)
        for ev in _events(event):
            self._handlers.setdefault(ev, []).append(_Listener(handler, takes_payload, False))
        return handler

    @overload
    def once(self, event: Events | str, handler: H) -> H: ...
    @overload
    def once(self, event: Events | str, handler: None = None) -> Callable[[H], H]: ...

    def once(self, event: Events | str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for one call of ``event`` only and return it (or, without
        ``handler``, a decorator). ``off(event, handler)`` removes it before it ran."""
        if handler is None:

            def decorator(func: H) -> H:
                return self.once(event, func)

            return decorator
        listener = _Listener(handler, _takes_payload(handler), True)
        self._handlers.setdefault(Events(event), []).append(listener)
        return handler

    def off(self, event: EventSpec, handler: Handler | None = None) -> None:
        """Remove ``handler`` from one event or from each of several events; without
        ``handler``, remove every handler of those events (as :meth:`remove_all_listeners`)."""
        if handler is None:
            self.remove_all_listeners(event)
            return
        for ev in _events(event):
            entries = self._handlers.get(ev)
            if not entries:
                continue
            for i, listener in enumerate(entries):
                if listener.handler == handler:
                    del entries[i]
                    break

    #: The name most emitters use for :meth:`off`.
    remove_listener = off

    def remove_all_listeners(self, event: EventSpec | None = None) -> None:
        """Remove every handler, or every handler of one event or of several events."""
        if event is None:
            self._handlers.clear()
            return
        for ev in _events(event):
            self._handlers.pop(ev, None)

    def listener_count(self, event: Events | str) -> int:
        """How many handlers ``event`` has."""
        return len(self._handlers.get(Events(event), ()))

    def emit(self, event: Events, payload: Any = None) -> None:
        """Call each handler of ``event``; never raises. The handlers are those registered
        when it was called (as in the TypeScript SDK); a ``once`` handler is removed first."""
        entries = self._handlers.get(event, [])
        for listener in list(entries):
            if listener.once and listener in entries:
                entries.remove(listener)
            try:
                handler = listener.handler
                result = handler(payload) if listener.takes_payload else handler()
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(functools.partial(self._task_done, event))
            except Exception as exc:
                self._report(event, exc)

    def _task_done(self, event: Events, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._report(event, exc)

    def _report(self, event: Events, exc: BaseException) -> None:
        log.error("pchat: %s handler raised", event.value, exc_info=exc)
        if event is not Events.ERROR:
            self.emit(Events.ERROR, HandlerError(event.value, exc))

    async def drain(self) -> None:
        """Wait for the handler tasks scheduled so far (useful in tests and at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
