"""The single-node :class:`~pchat.storage.base.Broker`: fan-out within one process."""

from __future__ import annotations

from collections.abc import Callable

from .base import BrokerHandler, deliver

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """Delivers each publication to the room's handler at once, in publish order.

    One handler per room (subscribing again replaces it). A handler that raises is logged;
    the publisher is not affected. Presence is this node's count: there is no other node.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, BrokerHandler] = {}
        self._presence: dict[str, int] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self._handlers.clear()

    @property
    def healthy(self) -> bool:
        """Always: there is nothing between the publisher and the handlers."""
        return True

    async def publish(self, room_id: str, seq: int | None, payload: bytes) -> None:
        handler = self._handlers.get(room_id)
        if handler is not None:
            deliver(handler, room_id, seq, payload)

    async def subscribe(self, room_id: str, handler: BrokerHandler) -> None:
        self._handlers[room_id] = handler

    async def unsubscribe(self, room_id: str) -> None:
        self._handlers.pop(room_id, None)

    async def take_token(self, key: str, rate: float, burst: int) -> float | None:
        """No shared counters here: the node's own buckets apply."""
        return None

    async def set_presence(self, room_id: str, node_count: int) -> int:
        if node_count > 0:
            self._presence[room_id] = node_count
        else:
            self._presence.pop(room_id, None)
        return node_count

    async def rooms_online(self) -> dict[str, int]:
        return dict(self._presence)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Never called: nothing is between the publisher and the handler."""
