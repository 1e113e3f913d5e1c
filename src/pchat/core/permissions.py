"""Who may do what, by role (docs/protocol.md §5)."""

from __future__ import annotations

from pchat.protocol.models import User
from pchat.protocol.validation import ROLE_RANK

__all__ = ["grants", "is_staff"]


def is_staff(user: User) -> bool:
    """Moderators and admins."""
    return ROLE_RANK[user.role] >= ROLE_RANK["moderator"]


def grants(granted: str, wanted: str) -> bool:
    """Whether a token granting the role ``granted`` allows acting as ``wanted``."""
    return ROLE_RANK[wanted] <= ROLE_RANK.get(granted, 0)
