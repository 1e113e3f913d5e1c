"""WebSocket frames below the JSON (RFC 6455 §5.2): the server's, encoded once for fan-out,
and a check of the client's.

A push to a room is encoded into one complete, unmasked text frame and the same bytes are
written to every connection's transport; no per-recipient encoding.

Clients must mask every frame (§5.1: "a server MUST close the connection upon receiving a
frame that is not masked"). :class:`MaskCheck` follows the frame boundaries of the bytes a
client sends and tells, without decoding any payload, whether a frame arrived unmasked.
"""

from __future__ import annotations

import struct

__all__ = ["MaskCheck", "encode_text_frame"]


def encode_text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (opcode 0x1) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


class MaskCheck:
    """Follows a client's byte stream frame by frame; :meth:`feed` returns False at the
    first unmasked frame. Only headers are looked at: payload bytes are skipped by count."""

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._head = b""  # the start of a header cut by a chunk boundary
        self._skip = 0  # payload bytes (and mask key) still to pass over

    def feed(self, data: bytes) -> bool:
        """Account for ``data``; False if a frame in it (or begun before it) is unmasked."""
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = 14 - len(self._head)  # the longest header without the mask key
            head = self._head + data[pos : pos + take]
            if len(head) >= 2 and not head[1] & 0x80:
                return False
            size = _header_size(head)
            if size is None:  # incomplete: wait for the next chunk
                self._head = head
                return True
            pos += size - len(self._head)
            self._head = b""
            self._skip = 4 + _payload_length(head)
        return True


def _header_size(head: bytes) -> int | None:
    """The header's length without the mask key, or None if ``head`` is shorter."""
    if len(head) < 2:
        return None
    n = head[1] & 0x7F
    size = 2 if n < 126 else 4 if n == 126 else 10
    return size if len(head) >= size else None


def _payload_length(head: bytes) -> int:
    n = head[1] & 0x7F
    if n == 126:
        return int(struct.unpack_from("!H", head, 2)[0])
    if n == 127:
        return int(struct.unpack_from("!Q", head, 2)[0])
    return n
