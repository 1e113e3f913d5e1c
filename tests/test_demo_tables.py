"""The demo's copies of the server's defaults (web/src) agree with them.

The demo shows the default reactions before the connect reply names the room's, has an
emoji for each, and caps the composer at the default message length; the server's values
are in ``pchat.server.config.Settings``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pchat.server.config import Settings

WEB = Path(__file__).resolve().parents[1] / "web" / "src" / "chat"


def _ts_block(source: str, name: str) -> str:
    match = re.search(rf"export const {name}\b[^=]*= (\[[^\]]*\]|\{{[^}}]*\}})", source)
    assert match, f"{name} not found"
    return match.group(1)


def test_default_reactions_and_their_emoji() -> None:
    types = (WEB / "types.ts").read_text()
    reactions = re.findall(r"'([a-z_]+)'", _ts_block(types, "DEFAULT_REACTIONS"))
    assert tuple(reactions) == Settings().reactions
    emoji = re.findall(r"^\s+([a-z_]+):", _ts_block(types, "REACTION_EMOJI"), re.MULTILINE)
    assert set(emoji) >= set(Settings().reactions)


def test_message_length() -> None:
    chat = (WEB / "useChat.ts").read_text()
    match = re.search(r"const MAX_MESSAGE_CHARS = ([0-9_]+);", chat)
    assert match and int(match.group(1)) == Settings().max_message_chars
