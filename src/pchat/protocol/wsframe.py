"""Server-to-client WebSocket frames encoded once, for fan-out (RFC 6455 §5.2).

A push to a room is encoded into one complete, unmasked text frame and the same bytes are
written to every connection's transport; no per-recipient encoding.
"""

from __future__ import annotations

import struct

__all__ = ["encode_text_frame"]


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
