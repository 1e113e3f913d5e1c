"""The SQLite store's schema: its migrations, and the function that applies them.

The schema version is kept in ``PRAGMA user_version``; ``MIGRATIONS[i]`` migrates version
``i`` to ``i + 1``, so a later change appends one entry (never edits one: a file at version
``i`` has run the first ``i`` as they were). :func:`migrate` runs on the store's writer, in
its transaction: the missing migrations are applied all together or not at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file at ``path`` to :data:`SCHEMA_VERSION`; refuse one that is newer."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"{path}: schema version {version} is newer than this pchat's ({SCHEMA_VERSION})"
        )
    for statements in MIGRATIONS[version:]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 0 -> 1: the initial schema.
    (
        """CREATE TABLE rooms (
            room_id TEXT PRIMARY KEY,
            epoch TEXT NOT NULL,
            last_seq INTEGER NOT NULL,
            last_ts INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE messages (
            room_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            username TEXT NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL,
            cid TEXT,
            ts INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            deleted_by_id TEXT,
            deleted_by_name TEXT,
            deleted_by_role TEXT,
            deleted_at INTEGER,
            PRIMARY KEY (room_id, seq)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX messages_id ON messages (room_id, id)",
        """CREATE UNIQUE INDEX messages_cid ON messages (room_id, user_id, cid)
            WHERE cid IS NOT NULL""",
        "CREATE INDEX messages_ts ON messages (room_id, ts, seq)",
        """CREATE TABLE events (
            room_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            message_seq INTEGER NOT NULL,
            PRIMARY KEY (room_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE reactions (
            room_id TEXT NOT NULL,
            reaction TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (room_id, reaction)
        ) WITHOUT ROWID""",
        """CREATE TABLE polls (
            room_id TEXT NOT NULL,
            id TEXT NOT NULL,
            question TEXT NOT NULL,
            status TEXT NOT NULL,
            created_by_id TEXT NOT NULL,
            created_by_name TEXT NOT NULL,
            created_by_role TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            publish_at INTEGER,
            published_at INTEGER,
            finished_at INTEGER,
            PRIMARY KEY (room_id, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX polls_scheduled ON polls (publish_at) WHERE status = 'scheduled'",
        # One row per option; ``votes`` is updated in the transaction that records the vote.
        """CREATE TABLE poll_options (
            room_id TEXT NOT NULL,
            poll_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            votes INTEGER NOT NULL,
            PRIMARY KEY (room_id, poll_id, idx)
        ) WITHOUT ROWID""",
        """CREATE TABLE poll_votes (
            room_id TEXT NOT NULL,
            poll_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            option INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            PRIMARY KEY (room_id, poll_id, user_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX poll_votes_user ON poll_votes (room_id, user_id, option)",
    ),
    # 1 -> 2: moderation — bans, room settings, pins, the moderation log (ids from a counter
    # per room), and a user's messages by position (unique-chat mode's recent texts).
    (
        """CREATE TABLE bans (
            room_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            by_id TEXT NOT NULL,
            by_name TEXT NOT NULL,
            by_role TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            until INTEGER,
            reason TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE room_settings (
            room_id TEXT PRIMARY KEY,
            slow_mode INTEGER NOT NULL,
            unique_chat INTEGER NOT NULL,
            max_message_chars INTEGER NOT NULL,
            mode TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE TABLE pins (room_id TEXT PRIMARY KEY, pin TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE mod_log_heads (
            room_id TEXT PRIMARY KEY,
            last_id INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE mod_log (
            room_id TEXT NOT NULL,
            id INTEGER NOT NULL,
            action TEXT NOT NULL,
            by_id TEXT NOT NULL,
            by_name TEXT NOT NULL,
            by_role TEXT NOT NULL,
            ts INTEGER NOT NULL,
            target_user_id TEXT,
            message_id TEXT,
            reason TEXT NOT NULL,
            details TEXT NOT NULL,
            PRIMARY KEY (room_id, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX messages_user ON messages (room_id, user_id, seq)",
    ),
    # 2 -> 3: purges — one row per ``message_purge`` event, at the event's position (the
    # event's ``message_seq`` is 0: it joins no message).
    (
        """CREATE TABLE purges (
            room_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            since INTEGER NOT NULL,
            by_id TEXT NOT NULL,
            by_name TEXT NOT NULL,
            by_role TEXT NOT NULL,
            ts INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (room_id, seq)
        ) WITHOUT ROWID""",
    ),
    # 3 -> 4: the word filter's blocklists, one per room and the server's (room ``*``); ``seq``
    # numbers a list's entries in the order they were added.
    (
        """CREATE TABLE filter_entries (
            room_id TEXT NOT NULL,
            pattern TEXT NOT NULL,
            action TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (room_id, pattern)
        ) WITHOUT ROWID""",
        "CREATE INDEX filter_entries_seq ON filter_entries (room_id, seq)",
    ),
    # 4 -> 5: replies and mentions — the id of the message a message answers, and the ids of
    # the users it mentions as a JSON array; NULL in both (every earlier row): none.
    (
        "ALTER TABLE messages ADD COLUMN reply_to TEXT",
        "ALTER TABLE messages ADD COLUMN mentions TEXT",
    ),
    # 5 -> 6: the rest of moderation. A message may be ``shadow`` (its author is shadow-banned:
    # only they and the staff see it) or ``hidden`` (reported enough times: hidden from viewers
    # until a moderator decides); a ban may be a shadow ban. ``mutes``: a user's personal mutes
    # (across rooms). ``held_messages``: messages waiting for review or for the room's chat
    # delay (``release_at``), not in the stream yet; approving one appends it with the same
    # id. ``reports``: one row per reporter and message. Room settings gain hold mode and
    # chat delay (s).
    (
        "ALTER TABLE messages ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE bans ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE room_settings ADD COLUMN hold INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE room_settings ADD COLUMN delay INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE mutes (
            user_id TEXT NOT NULL,
            muted_id TEXT NOT NULL,
            ts INTEGER NOT NULL,
            PRIMARY KEY (user_id, muted_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE held_messages (
            room_id TEXT NOT NULL,
            id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            username TEXT NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL,
            cid TEXT,
            ts INTEGER NOT NULL,
            reason TEXT NOT NULL,
            release_at INTEGER,
            reply_to TEXT,
            mentions TEXT,
            PRIMARY KEY (room_id, id)
        ) WITHOUT ROWID""",
        """CREATE UNIQUE INDEX held_cid ON held_messages (room_id, user_id, cid)
            WHERE cid IS NOT NULL""",
        "CREATE INDEX held_release ON held_messages (release_at) WHERE release_at IS NOT NULL",
        """CREATE TABLE reports (
            room_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            ts INTEGER NOT NULL,
            PRIMARY KEY (room_id, message_id, user_id)
        ) WITHOUT ROWID""",
    ),
    # 6 -> 7: when an event happened, for the kinds whose time is not in their message or
    # purge row (``message_hide``, ``message_restore``); NULL for the other kinds.
    ("ALTER TABLE events ADD COLUMN ts INTEGER",),
    # 7 -> 8: revoked access tokens — per user, the second (``revoked_before``) before which
    # the user's tokens are refused (their ``iat`` earlier); nodes read the recent ones.
    (
        """CREATE TABLE revocations (
            user_id TEXT PRIMARY KEY,
            revoked_before INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX revocations_before ON revocations (revoked_before)",
    ),
    # 8 -> 9: webhooks (store_sqlite_webhooks). ``webhook_endpoints``: the operator's endpoints
    # and the event types each gets (a JSON array; ``*``: all). ``webhook_outbox``: one row per
    # event and endpoint still to deliver (or given up: ``dead_at``), written in the
    # transaction of the change; ``next_at`` is when it is due — a claim pushes it past the
    # lease, so a claimed row is due again only if its claimer died. ``webhook_rooms``: the
    # rooms last reported live (room.live / room.empty alternate, whichever node reports).
    (
        """CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,
            types TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE webhook_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            type TEXT NOT NULL,
            room_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            body BLOB NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL,
            claim TEXT,
            dead_at INTEGER,
            last_error TEXT
        )""",
        # The one index: claims seek the due rows. An endpoint's own rows (its backlog, its
        # removal) are found by a scan: the outbox holds only what is not delivered yet, and
        # every index more is paid by each event written.
        "CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE dead_at IS NULL",
        """CREATE TABLE webhook_rooms (
            room_id TEXT PRIMARY KEY,
            since INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    # 9 -> 10: history retention (store_sqlite_retention). ``rooms.first_seq``: the position
    # of the room's first kept event (those before it were removed). ``room_retention``: a
    # room's own rule over the server's (NULL: the server's; 0: keep forever). ``events_refs``:
    # the events that name an earlier message (deletes, hides, restores; few), so that
    # retention finds the messages a kept event still needs.
    (
        "ALTER TABLE rooms ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 1",
        """CREATE TABLE room_retention (
            room_id TEXT PRIMARY KEY,
            days REAL,
            messages INTEGER
        ) WITHOUT ROWID""",
        """CREATE INDEX IF NOT EXISTS events_refs ON events (room_id, message_seq)
            WHERE kind <> 'message'""",
    ),
)

#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION: Final = len(MIGRATIONS)
