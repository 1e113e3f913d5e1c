"""Files only pchat may read: the data directory (``0700``) and its databases (``0600``).

The data directory holds the token signing keys and every message, so nothing in it is for
other local users. New directories and files are created private from the first byte; an
existing file of pchat's that others may read (from an older version, or copied in) is made
private when opened, and an existing directory that others may read is reported, not
changed (it may be a mount point or a directory the operator shares on purpose).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file", "sqlite_files"]

log = logging.getLogger(__name__)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) with mode ``0700``; warn if it existed and others
    may read it."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "data directory %s is open to other users (mode %04o): chmod 700 it", path, mode
            )
    return path


def private_file(path: Path, *, create: bool = True) -> None:
    """Create ``path`` with mode ``0600`` if ``create`` and it is missing; make an existing
    one ``0600`` if others may read it (when pchat owns it)."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return
    try:
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database and the companions SQLite creates beside it (WAL mode)."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
