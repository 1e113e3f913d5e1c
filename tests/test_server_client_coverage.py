"""The server client has a method for every path of the server API's OpenAPI document
(item 5 of issue 12: one method per endpoint), so a new endpoint cannot be forgotten."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

import pchat.server.admin
import pchat.server_client.client

SPEC = Path(pchat.server.admin.__file__).parent / "openapi.json"
CLIENT = Path(pchat.server_client.client.__file__)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_path_of_the_spec_has_a_client_method() -> None:
    spec = orjson.loads(SPEC.read_bytes())
    source = CLIENT.read_text()
    called = {_template(p) for p in re.findall(r'f?"(/[^"]*)"', source)}
    missing = sorted(p for p in spec["paths"] if _template(p) not in called)
    assert not missing, f"paths without a ServerClient method: {missing}"
