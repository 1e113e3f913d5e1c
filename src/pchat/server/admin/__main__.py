"""``python -m pchat.server.admin [PATH]``: write the OpenAPI document (default: the
package's ``openapi.json``) from the route modules."""

from __future__ import annotations

import sys
from pathlib import Path

from . import ROUTE_MODULES
from .openapi import SPEC_FILE, write

write(ROUTE_MODULES, Path(sys.argv[1]) if len(sys.argv) > 1 else SPEC_FILE)
