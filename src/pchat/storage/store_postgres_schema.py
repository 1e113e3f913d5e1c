"""The PostgreSQL store's schema: its migrations, and the function that applies them.

``schema_migrations`` records each applied migration; ``MIGRATIONS[i]`` migrates version
``i`` to ``i + 1``, so a later change appends one entry (never edits one). :func:`migrate`
applies the missing ones in one transaction; nodes starting at once migrate one after the
other (an advisory lock per schema), and a node refuses a schema newer than its code.
"""

from __future__ import annotations

import hashlib
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]


def _lock_key(schema: str) -> int:
    """The advisory lock that serialises migrations of ``schema`` (a signed 64-bit int)."""
    digest = hashlib.sha256(f"pchat-migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(conn: PoolConnectionProxy[asyncpg.Record], schema: str) -> None:
    """Create ``schema`` if need be and bring it to :data:`SCHEMA_VERSION`; refuse one that
    is newer. ``schema`` is a checked name (it is quoted, not bound)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"schema {schema!r} is at version {version},"
                f" newer than this pchat's ({SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number + 1)


MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 0 -> 1: the initial schema.
    (
        """CREATE TABLE rooms (
            room_id text PRIMARY KEY,
            epoch text NOT NULL,
            last_seq bigint NOT NULL,
            last_ts bigint NOT NULL,
            created_at bigint NOT NULL
        )""",
        """CREATE TABLE messages (
            room_id text NOT NULL,
            seq bigint NOT NULL,
            id text NOT NULL,
            user_id text NOT NULL,
            username text NOT NULL,
            role text NOT NULL,
            text text NOT NULL,
            cid text,
            ts bigint NOT NULL,
            deleted boolean NOT NULL DEFAULT false,
            deleted_by_id text,
            deleted_by_name text,
            deleted_by_role text,
            deleted_at bigint,
            PRIMARY KEY (room_id, seq)
        )""",
        "CREATE UNIQUE INDEX messages_id ON messages (room_id, id)",
        """CREATE UNIQUE INDEX messages_cid ON messages (room_id, user_id, cid)
            WHERE cid IS NOT NULL""",
        "CREATE INDEX messages_ts ON messages (room_id, ts, seq)",
        """CREATE TABLE events (
            room_id text NOT NULL,
            seq bigint NOT NULL,
            kind text NOT NULL,
            message_seq bigint NOT NULL,
            PRIMARY KEY (room_id, seq)
        )""",
        """CREATE TABLE reactions (
            room_id text NOT NULL,
            reaction text NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (room_id, reaction)
        )""",
        """CREATE TABLE polls (
            room_id text NOT NULL,
            id text NOT NULL,
            question text NOT NULL,
            status text NOT NULL,
            created_by_id text NOT NULL,
            created_by_name text NOT NULL,
            created_by_role text NOT NULL,
            created_at bigint NOT NULL,
            publish_at bigint,
            published_at bigint,
            finished_at bigint,
            PRIMARY KEY (room_id, id)
        )""",
        "CREATE INDEX polls_scheduled ON polls (publish_at) WHERE status = 'scheduled'",
        """CREATE TABLE poll_options (
            room_id text NOT NULL,
            poll_id text NOT NULL,
            idx integer NOT NULL,
            text text NOT NULL,
            votes bigint NOT NULL,
            PRIMARY KEY (room_id, poll_id, idx)
        )""",
        """CREATE TABLE poll_votes (
            room_id text NOT NULL,
            poll_id text NOT NULL,
            user_id text NOT NULL,
            option integer NOT NULL,
            ts bigint NOT NULL,
            PRIMARY KEY (room_id, poll_id, user_id)
        )""",
        "CREATE INDEX poll_votes_user ON poll_votes (room_id, user_id)",
    ),
    # 1 -> 2: moderation — bans, room settings, pins, the moderation log (ids from a counter
    # per room), and a user's messages by position (unique-chat mode's recent texts).
    (
        """CREATE TABLE bans (
            room_id text NOT NULL,
            user_id text NOT NULL,
            by_id text NOT NULL,
            by_name text NOT NULL,
            by_role text NOT NULL,
            created_at bigint NOT NULL,
            until bigint,
            reason text NOT NULL,
            PRIMARY KEY (room_id, user_id)
        )""",
        """CREATE TABLE room_settings (
            room_id text PRIMARY KEY,
            slow_mode integer NOT NULL,
            unique_chat boolean NOT NULL,
            max_message_chars integer NOT NULL,
            mode text NOT NULL
        )""",
        "CREATE TABLE pins (room_id text PRIMARY KEY, pin jsonb NOT NULL)",
        "CREATE TABLE mod_log_heads (room_id text PRIMARY KEY, last_id bigint NOT NULL)",
        """CREATE TABLE mod_log (
            room_id text NOT NULL,
            id bigint NOT NULL,
            action text NOT NULL,
            by_id text NOT NULL,
            by_name text NOT NULL,
            by_role text NOT NULL,
            ts bigint NOT NULL,
            target_user_id text,
            message_id text,
            reason text NOT NULL,
            details jsonb NOT NULL,
            PRIMARY KEY (room_id, id)
        )""",
        "CREATE INDEX messages_user ON messages (room_id, user_id, seq)",
    ),
    # 2 -> 3: purges — one row per ``message_purge`` event, at the event's position (the
    # event's ``message_seq`` is 0: it joins no message).
    (
        """CREATE TABLE purges (
            room_id text NOT NULL,
            seq bigint NOT NULL,
            user_id text NOT NULL,
            since bigint NOT NULL,
            by_id text NOT NULL,
            by_name text NOT NULL,
            by_role text NOT NULL,
            ts bigint NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (room_id, seq)
        )""",
    ),
    # 3 -> 4: the word filter's blocklists, one per room and the server's (room ``*``); ``seq``
    # orders a list's entries as they were added (an identity: distinct across nodes).
    (
        """CREATE TABLE filter_entries (
            room_id text NOT NULL,
            pattern text NOT NULL,
            action text NOT NULL,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (room_id, pattern)
        )""",
        "CREATE INDEX filter_entries_seq ON filter_entries (room_id, seq)",
    ),
    # 4 -> 5: replies and mentions — the id of the message a message answers, and the ids of
    # the users it mentions as a JSON array; NULL in both (every earlier row): none. Adding a
    # column without a default rewrites no row.
    (
        "ALTER TABLE messages ADD COLUMN reply_to text",
        "ALTER TABLE messages ADD COLUMN mentions jsonb",
    ),
    # 5 -> 6: the rest of moderation. A message may be ``shadow`` (its author is shadow-banned:
    # only they and the staff see it) or ``hidden`` (reported enough times: hidden from viewers
    # until a moderator decides); a ban may be a shadow ban. ``mutes``: a user's personal mutes
    # (across rooms). ``held_messages``: messages waiting for review or for the room's chat
    # delay (``release_at``), not in the stream yet; approving one appends it with the same
    # id. ``reports``: one row per reporter and message. Room settings gain hold mode and
    # chat delay (s).
    (
        "ALTER TABLE messages ADD COLUMN shadow boolean NOT NULL DEFAULT false",
        "ALTER TABLE messages ADD COLUMN hidden boolean NOT NULL DEFAULT false",
        "ALTER TABLE bans ADD COLUMN shadow boolean NOT NULL DEFAULT false",
        "ALTER TABLE room_settings ADD COLUMN hold boolean NOT NULL DEFAULT false",
        "ALTER TABLE room_settings ADD COLUMN delay bigint NOT NULL DEFAULT 0",
        """CREATE TABLE mutes (
            user_id text NOT NULL,
            muted_id text NOT NULL,
            ts bigint NOT NULL,
            PRIMARY KEY (user_id, muted_id)
        )""",
        """CREATE TABLE held_messages (
            room_id text NOT NULL,
            id text NOT NULL,
            user_id text NOT NULL,
            username text NOT NULL,
            role text NOT NULL,
            text text NOT NULL,
            cid text,
            ts bigint NOT NULL,
            reason text NOT NULL,
            release_at bigint,
            reply_to text,
            mentions jsonb,
            PRIMARY KEY (room_id, id)
        )""",
        """CREATE UNIQUE INDEX held_cid ON held_messages (room_id, user_id, cid)
            WHERE cid IS NOT NULL""",
        "CREATE INDEX held_release ON held_messages (release_at) WHERE release_at IS NOT NULL",
        """CREATE TABLE reports (
            room_id text NOT NULL,
            message_id text NOT NULL,
            user_id text NOT NULL,
            reason text NOT NULL,
            ts bigint NOT NULL,
            PRIMARY KEY (room_id, message_id, user_id)
        )""",
    ),
    # 6 -> 7: when an event happened, for the kinds whose time is not in their message or
    # purge row (``message_hide``, ``message_restore``); NULL for the other kinds.
    ("ALTER TABLE events ADD COLUMN ts bigint",),
    # 7 -> 8: revoked access tokens — per user, the second (``revoked_before``) before which
    # the user's tokens are refused (their ``iat`` earlier); nodes read the recent ones.
    (
        """CREATE TABLE revocations (
            user_id text PRIMARY KEY,
            revoked_before bigint NOT NULL
        )""",
        "CREATE INDEX revocations_before ON revocations (revoked_before)",
    ),
    # 8 -> 9: webhooks (store_postgres_webhooks). ``webhook_endpoints``: the operator's
    # endpoints and the event types each gets (``*``: all). ``webhook_outbox``: one row per
    # event and endpoint still to deliver (or given up: ``dead_at``), written in the
    # transaction of the change; ``next_at`` is when it is due — a claim pushes it past the
    # lease, so a claimed row is due again only if its claimer died. ``webhook_rooms``: the
    # rooms last reported live (room.live / room.empty alternate, whichever node reports).
    (
        """CREATE TABLE webhook_endpoints (
            id text PRIMARY KEY,
            url text NOT NULL,
            secret text NOT NULL,
            types text[] NOT NULL,
            description text NOT NULL DEFAULT '',
            active boolean NOT NULL DEFAULT true,
            created_at bigint NOT NULL
        )""",
        """CREATE TABLE webhook_outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id text NOT NULL,
            endpoint_id text NOT NULL,
            type text NOT NULL,
            room_id text NOT NULL,
            created_at bigint NOT NULL,
            body bytea NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_at bigint NOT NULL,
            claim text,
            dead_at bigint,
            last_error text
        )""",
        # The one index: claims seek the due rows. An endpoint's own rows (its backlog, its
        # removal) are found by a scan: the outbox holds only what is not delivered yet, and
        # every index more is paid by each event written.
        "CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE dead_at IS NULL",
        """CREATE TABLE webhook_rooms (
            room_id text PRIMARY KEY,
            since bigint NOT NULL
        )""",
    ),
    # 9 -> 10: history retention (store_postgres_retention). ``rooms.first_seq``: the
    # position of the room's first kept event (those before it were removed).
    # ``room_retention``: a room's own rule over the server's (NULL: the server's; 0: keep
    # forever). ``events_refs``: the events that name an earlier message (deletes, hides,
    # restores; few), so that retention finds the messages a kept event still needs. Building
    # it reads the whole events table while writes wait: a large store builds it before the
    # upgrade with CREATE INDEX CONCURRENTLY (docs/operations.md, Retention and backups).
    (
        "ALTER TABLE rooms ADD COLUMN first_seq bigint NOT NULL DEFAULT 1",
        """CREATE TABLE room_retention (
            room_id text PRIMARY KEY,
            days double precision,
            messages bigint
        )""",
        """CREATE INDEX IF NOT EXISTS events_refs ON events (room_id, message_seq)
            WHERE kind <> 'message'""",
    ),
)

#: The schema version this code writes (the highest row of ``schema_migrations``).
SCHEMA_VERSION: Final = len(MIGRATIONS)
