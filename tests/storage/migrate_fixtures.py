"""Sources for the migration tests: a SQLite store with a row in every table (written
through the store's own API), and a large one written by SQL in one transaction."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

from pchat.protocol.models import Poll, PollOption, User
from pchat.protocol.moderation import Ban, Held, ModAction, Pin, RoomSettings
from pchat.protocol.wordfilter import FilterEntry
from pchat.storage.base import (
    ApiKeyRecord,
    RetentionRule,
    SigningKey,
    WebhookEndpoint,
)
from pchat.storage.keys_sqlite import SQLiteKeyStore
from pchat.storage.operators_sqlite import SQLiteOperatorStore
from pchat.storage.store_sqlite import SQLiteStore

__all__ = ["BULK_ROOMS", "T0", "fill_bulk", "fill_everything", "table_counts"]

#: The first message's time in the filled stores (ms).
T0 = 1_700_000_000_000
MOD = User("mod1", "Mod", "moderator")
ALICE = User("alice", "Alice", "")
BOB = User("bob", "Bob", "")
BULK_ROOMS = ("bulk-a", "bulk-b", "bulk-c", "bulk-d")


async def fill_everything(data_dir: Path) -> None:
    """A store (``pchat.sqlite3``) and keys file (``keys.sqlite3``) in ``data_dir`` with at
    least one row in every table, through the stores' APIs: what a live install holds."""
    store = SQLiteStore(data_dir / "pchat.sqlite3")
    await store.open()
    try:
        await _fill_store(store)
    finally:
        await store.close()
    # Ids as random as the real ones: two installs share none.
    keys = SQLiteKeyStore(data_dir / "keys.sqlite3")
    await keys.add_api_key(ApiKeyRecord(f"pk_{secrets.token_hex(6)}", "hash-live", 100, None))
    await keys.add_api_key(ApiKeyRecord(f"pk_{secrets.token_hex(6)}", "hash-old", 90, 95))
    for created in (80, 85):
        kid = secrets.token_hex(4)
        await keys.add_signing_key(SigningKey(kid, secrets.token_bytes(32), created))
    await SQLiteOperatorStore(data_dir / "keys.sqlite3").set_operator("ops", "pw-hash", 120)


async def _fill_store(store: SQLiteStore) -> None:
    ts = T0
    # Webhooks first, so that the changes below write outbox rows.
    await store.add_webhook(
        WebhookEndpoint("wh_1", "https://hooks.example/a", "s3cret", ("*",), 1, True, "all")
    )
    await store.add_webhook(
        WebhookEndpoint(
            "wh_2", "https://hooks.example/b", "s3cret2", ("message.posted",), 2, False, ""
        )
    )
    await store.reload_webhook_types()
    ids = []
    for i in range(12):
        user = ALICE if i % 2 else BOB
        result = await store.append_message(
            "lobby",
            message_id=f"m{i}",
            user=user,
            text=f"hello {i}",
            cid=f"c{i}" if i % 3 else None,
            ts=ts + i,
            reply_to=ids[-1] if ids and i % 4 == 0 else None,
            mentions=("alice", "bob") if i % 5 == 0 else (),
            shadow=i == 7,
        )
        ids.append(result.message.id)
    await store.delete_message("lobby", "m2", by=MOD, ts=ts + 100)
    await store.purge_user("lobby", "bob", since=ts + 8, by=MOD, ts=ts + 101)
    await store.add_report("lobby", "m3", "carol", "spam", ts + 102)
    await store.add_report("lobby", "m3", "dave", "", ts + 103)
    await store.hide_message("lobby", "m3", ts + 104)
    await store.resolve_reports("lobby", "m3", restore_ts=ts + 105)
    await store.add_report("lobby", "m5", "carol", "rude", ts + 106)
    await store.hide_message("lobby", "m5", ts + 107)
    await store.add_report("lobby", "m9", "erin", "", ts + 108)
    await store.append_message(
        "stage", message_id="s1", user=ALICE, text="on stage", cid=None, ts=ts
    )
    await store.add_reactions("lobby", {"heart": 3, "fire": 1})
    await store.add_reactions("stage", {"clap": 7})

    by = MOD
    await store.create_poll(
        "lobby",
        Poll("p1", "Tea?", (PollOption("yes"), PollOption("no")), "open", by, ts),
    )
    await store.vote("lobby", "p1", "alice", 0)
    await store.vote("lobby", "p1", "bob", 1)
    await store.vote("lobby", "p1", "carol", 0)
    await store.create_poll(
        "lobby",
        Poll("p2", "Later?", (PollOption("a"), PollOption("b")), "scheduled", by, ts, ts + 10**9),
    )
    await store.create_poll("stage", Poll("p3", "Done?", (PollOption("x"),), "open", by, ts))
    await store.finish_poll("stage", "p3", ts + 5)

    await store.put_ban("lobby", Ban("troll", by, ts, None, "spam"))
    await store.put_ban("lobby", Ban("shady", by, ts, ts + 10**10, "", shadow=True))
    await store.put_room_settings(
        "lobby", RoomSettings(5, True, 300, "moderators_only", hold=True, delay=3)
    )
    pinned = await store.get_message("lobby", "m1")
    await store.put_pin("lobby", Pin(by, ts + 2, pinned))
    await store.log_action("lobby", ModAction("ban", by, ts, "troll", None, "spam", {"d": 1}))
    await store.log_action("lobby", ModAction("pin", by, ts + 1, None, "m1", "", {}))
    await store.put_filter_entry("lobby", FilterEntry("badword", "block"))
    await store.put_filter_entry("lobby", FilterEntry("meh", "hold"))
    await store.put_filter_entry("*", FilterEntry("global", "block"))
    await store.put_filter_entry("*", FilterEntry("also", "mask"))
    await store.put_mute("alice", "bob", ts)
    await store.put_mute("carol", "alice", ts + 1)
    await store.hold_message(
        "lobby",
        Held("h1", ts + 200, BOB, "held text", "hold", None, "hc1", "m1", ("alice",)),
    )
    await store.hold_message("lobby", Held("h2", ts + 201, ALICE, "later", "delay", ts + 9000))
    await store.revoke_tokens("mallory", 1_700_000_000)
    await store.set_room_live("lobby", True, ts + 300, 4)
    await store.set_room_retention("lobby", RetentionRule(days=1.5, messages=1000))
    # A room whose oldest history retention removed: its stream starts later.
    for i in range(5):
        await store.append_message(
            "old", message_id=f"o{i}", user=ALICE, text=f"old {i}", cid=None, ts=ts + i
        )
    trimmed = await store.trim_room("old", before_ts=None, keep=2, limit=100)
    assert trimmed.first_seq == 4, trimmed
    await store.set_room_retention("stage", RetentionRule(days=None, messages=0))


def fill_bulk(path: Path, messages: int) -> None:
    """Add ``messages`` messages (and their events) to the store at ``path`` (whose schema
    exists), spread over :data:`BULK_ROOMS`, by SQL in one transaction; every 100th is
    deleted (a ``message_delete`` event after it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        per_room = messages // len(BULK_ROOMS)
        for r, room in enumerate(BULK_ROOMS):
            count = per_room + (messages % len(BULK_ROOMS) if r == 0 else 0)
            epoch = secrets.token_hex(8)
            rows = []
            events = []
            seq = 0
            for i in range(count):
                seq += 1
                deleted = i % 100 == 99
                rows.append(
                    (
                        room,
                        seq,
                        f"{room}-{i:06d}",
                        f"u{i % 50}",
                        f"User {i % 50}",
                        "",
                        "" if deleted else f"message {i} in {room}",
                        f"cid{i}",
                        T0 + i,
                        int(deleted),
                        "mod1" if deleted else None,
                        "Mod" if deleted else None,
                        "moderator" if deleted else None,
                        T0 + i + 1 if deleted else None,
                        '["u1"]' if i % 10 == 0 else None,
                    )
                )
                events.append((room, seq, "message", seq))
                if deleted:
                    seq += 1
                    events.append((room, seq, "message_delete", seq - 1))
            conn.executemany(
                "INSERT INTO messages (room_id, seq, id, user_id, username, role, text, cid, ts,"
                " deleted, deleted_by_id, deleted_by_name, deleted_by_role, deleted_at,"
                " mentions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO events (room_id, seq, kind, message_seq) VALUES (?, ?, ?, ?)",
                events,
            )
            conn.execute(
                "INSERT INTO rooms (room_id, epoch, last_seq, last_ts, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (room, epoch, seq, T0 + count - 1, T0),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def table_counts(path: Path) -> dict[str, int]:
    """Every table of the SQLite file at ``path`` and its rows."""
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()
