"""Online backups of the SQLite files: consistent copies taken while the server writes.

:func:`copy_database` copies one database with SQLite's backup API in a single step: the
copy is the database as of one read transaction — every transaction committed before it
started, none after — and in WAL mode the server's writers go on meanwhile (readers never
block them; checkpoints wait for the copy to finish). The copy is then checked with
``PRAGMA integrity_check`` and switched to a rollback journal, so that it is one
self-contained file.

:func:`write_backup` copies the data directory's databases (the messages, the keys) into
one tar archive (gzip-compressed for a name ending in ``.gz`` or ``.tgz``), private (mode
``0600``: the keys file holds the token signing keys), written beside its final name and
renamed into place when complete. Each file is consistent by itself; the two are copied one
after the other (the keys change rarely).

:func:`restore_backup` puts an archive's databases into an empty data directory and, unless
told the backup is the latest state, gives every room a new epoch: the stream positions
after the backup will be used again by new messages, so a client that saw the lost ones
must reload history (``epoch_changed``) rather than recover on top of them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BackupError", "BackupFile", "copy_database", "restore_backup", "write_backup"]


class BackupError(Exception):
    """The backup could not be made (a missing database, a copy that fails its check)."""


@dataclass(frozen=True, slots=True)
class BackupFile:
    """One database in a backup: its name in the archive and its size in bytes."""

    name: str
    size: int


def copy_database(source: Path, target: Path, *, busy_timeout_ms: int = 10_000) -> None:
    """Copy the SQLite database at ``source`` to the new file ``target`` (mode ``0600``),
    online and consistent (see the module's docstring); ``BackupError`` if ``source`` is
    not a database or the copy fails its integrity check."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    # mode=rw: never create the source (a wrong path is an error, not an empty backup).
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, isolation_level=None)
    try:
        src.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction
            (result,) = dst.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                raise BackupError(f"the copy of {source} fails its integrity check: {result}")
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from exc
    finally:
        src.close()


def write_backup(target: Path, databases: Sequence[tuple[str, Path]]) -> list[BackupFile]:
    """Copy each ``(name, path)`` database (a missing one is skipped unless it is the first)
    into the tar archive ``target``, which must not exist; the files archived."""
    if target.exists():
        raise BackupError(f"{target} exists: name a new file")
    compress = target.name.endswith((".gz", ".tgz"))
    parent = target.parent
    with tempfile.TemporaryDirectory(prefix=".pchat-backup-", dir=parent) as scratch:
        work = Path(scratch)  # mode 0700
        copied: list[BackupFile] = []
        for i, (name, path) in enumerate(databases):
            if i > 0 and not path.exists():
                continue
            copy = work / name
            copy_database(path, copy)
            copied.append(BackupFile(name, copy.stat().st_size))
        partial = work / "backup.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(fd, "wb") as out,
            tarfile.open(fileobj=out, mode="w:gz" if compress else "w") as archive,
        ):
            now = time.time()
            for file in copied:
                info = archive.gettarinfo(work / file.name, arcname=file.name)
                info.mode, info.mtime = 0o600, int(now)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(work / file.name, "rb") as data:
                    archive.addfile(info, data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, target)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise BackupError(f"{target} exists: name a new file") from None
        with contextlib.suppress(OSError):
            dir_fd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return copied


def restore_backup(
    archive: Path, data_dir: Path, names: Sequence[str], *, renew_epochs: bool = True
) -> list[BackupFile]:
    """Extract the databases ``names`` (the first required) of ``archive`` into
    ``data_dir`` (created ``0700``; it must hold none of them), each checked with
    ``PRAGMA integrity_check`` before it is moved into place (mode ``0600``); with
    ``renew_epochs``, every room of the first gets a new epoch. The files restored."""
    for name in names:
        for companion in (name, f"{name}-wal", f"{name}-shm"):
            if (data_dir / companion).exists():
                raise BackupError(f"{data_dir / companion} exists: restore into an empty directory")
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"cannot read {archive}: {exc}") from exc
    with tar:
        try:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"cannot read {archive}: {exc}") from exc
        if names[0] not in members:
            raise BackupError(f"{archive} holds no {names[0]}: not a pchat backup")
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".pchat-restore-", dir=data_dir) as scratch:
            work = Path(scratch)
            restored: list[BackupFile] = []
            for name in names:
                member = members.get(name)
                if member is None:
                    continue
                source = tar.extractfile(member)
                assert source is not None
                fd = os.open(work / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out, source:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                _check_restored(work / name, renew_epochs=renew_epochs and name == names[0])
                restored.append(BackupFile(name, (work / name).stat().st_size))
            for file in restored:
                os.link(work / file.name, data_dir / file.name)  # never over a file
    return restored


def _check_restored(path: Path, *, renew_epochs: bool) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            raise BackupError(f"{path.name} in the backup fails its integrity check: {result}")
        if renew_epochs:
            conn.execute("UPDATE rooms SET epoch = lower(hex(randomblob(8)))")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name} in the backup is not a database: {exc}") from exc
    finally:
        conn.close()
