"""Reports and hidden messages from the Python SDK against the real server on port 0
(docs/protocol.md §2 ``report``, ``reports``, ``report_resolve``; docs/python-sdk.md).

Viewers report a message; at the server's ``reports_to_hide`` (3) it is hidden by one
stream event: viewers' clients drop it, the staff's keep it marked; a moderator dismisses
the reports (it is shown again at its place) or deletes it. The moderators' clients are
told of the queue as it changes.
"""

from __future__ import annotations

import pytest

from pchat.protocol.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from pchat.protocol.models import Message
from pchat.protocol.moderation import Report
from pchat.sdk import ConnectEvent, Events, PChatSDK, ReportRemovedEvent
from tests.helpers import RunningServer
from tests.sdk.support import Gate, MakeSDK, cut_off, join, record, until


def ids(sdk: PChatSDK) -> list[tuple[str, bool]]:
    return [(m.id, m.hidden) for m in sdk.messages]


async def test_reports_hide_a_message_until_a_moderator_dismisses_them(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "reports", "mia", "moderator")
    bob = await join(server, make_sdk, "reports", "bob")
    eve = await join(server, make_sdk, "reports", "eve")
    reporters = [await join(server, make_sdk, "reports", name) for name in ("ann", "cat", "dan")]
    before = await mod.send_message("welcome")
    rude = await bob.send_message("something rude")
    after = await mod.send_message("be nice")
    await until(lambda: len(eve.messages) == 3 and len(mod.messages) == 3)
    staff = record(mod, Events.REPORT_ADDED, Events.REPORT_REMOVED, Events.MESSAGE_HIDDEN)
    watched = record(eve, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED, Events.MESSAGE)

    with pytest.raises(InvalidRequestError):
        await bob.report(rude.id)  # one's own message
    with pytest.raises(NotFoundError):
        await eve.report("no-such-message")
    await reporters[0].report(rude.id, reason="rude")
    await until(lambda: len(staff) == 1)
    event, report = staff[0]
    assert event is Events.REPORT_ADDED and isinstance(report, Report)
    assert (report.message.id, report.count, report.reasons, report.hidden) == (
        rude.id,
        1,
        ("rude",),
        False,
    )
    await reporters[0].report(rude.id, reason="again")  # once per user: nothing changes
    await reporters[1].report(rude.id, reason="spam")
    await until(lambda: len(staff) == 2)
    assert staff[1][1].count == 2 and staff[1][1].reasons == ("spam", "rude")
    assert [m.id for m in eve.messages] == [before.id, rude.id, after.id]  # not hidden yet

    # The third report hides it: one stream event that every client applies.
    await reporters[2].report(rude.id)
    await until(lambda: len(watched) == 1 and any(e is Events.MESSAGE_HIDDEN for e, _ in staff))
    assert watched[0][0] is Events.MESSAGE_HIDDEN and watched[0][1].id == rude.id
    assert watched[0][1].hidden
    assert [m.id for m in eve.messages] == [before.id, after.id]  # the viewer dropped it
    assert ids(mod) == [(before.id, False), (rude.id, True), (after.id, False)]  # kept, marked
    assert [m.id for m in bob.messages] == [before.id, after.id]  # its author too
    [open_report] = await mod.get_reports()
    assert (open_report.message.id, open_report.count, open_report.hidden) == (rude.id, 3, True)
    assert open_report.reasons == ("spam", "rude")  # distinct, newest first
    with pytest.raises(ForbiddenError):
        await eve.get_reports()
    with pytest.raises(ForbiddenError):
        await eve.resolve_report(rude.id, "dismiss")
    # History: left out for viewers, marked for the staff.
    late = await join(server, make_sdk, "reports", "fay")
    assert [m.id for m in await late.load_history()] == [before.id, after.id]
    ada = await join(server, make_sdk, "reports", "ada", "admin")
    assert [(m.id, m.hidden) for m in await ada.load_history()] == ids(mod)

    # Dismissed: shown again at its place, on every client.
    await mod.resolve_report(rude.id, "dismiss")
    await until(lambda: len(watched) == 2 and len(mod.messages) == 3 and not mod.messages[1].hidden)
    assert watched[1][0] is Events.MESSAGE_RESTORED and watched[1][1].id == rude.id
    assert [m.id for m in eve.messages] == [before.id, rude.id, after.id]
    assert ids(mod) == [(before.id, False), (rude.id, False), (after.id, False)]
    await until(lambda: any(e is Events.REPORT_REMOVED for e, _ in staff))
    removed = next(p for e, p in staff if e is Events.REPORT_REMOVED)
    assert removed == ReportRemovedEvent(rude.id, "dismissed", mod.user)
    assert await mod.get_reports() == []
    with pytest.raises(NotFoundError):
        await mod.resolve_report(rude.id, "dismiss")
    assert [e for e, _ in watched].count(Events.MESSAGE) == 0


async def test_a_reported_message_deleted_by_a_moderator(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "reports-del", "mia", "moderator")
    bob = await join(server, make_sdk, "reports-del", "bob")
    ann = await join(server, make_sdk, "reports-del", "ann")
    spam = await bob.send_message("buy now")
    await until(lambda: len(ann.messages) == 1)
    staff = record(mod, Events.REPORT_ADDED, Events.REPORT_REMOVED)
    deletes = record(ann, Events.MESSAGE_DELETE)
    await ann.report(spam.id, reason="spam")
    await until(lambda: len(staff) == 1)
    with pytest.raises(InvalidRequestError):
        await mod.resolve_report(spam.id, "ignore")
    await mod.resolve_report(spam.id, "delete")
    await until(lambda: len(deletes) == 1 and len(staff) == 2)
    assert deletes[0][1].id == spam.id and deletes[0][1].deleted
    assert staff[1] == (Events.REPORT_REMOVED, ReportRemovedEvent(spam.id, "deleted", mod.user))
    assert [(m.id, m.deleted) for m in ann.messages] == [(spam.id, True)]
    with pytest.raises(ConflictError):
        await ann.report(spam.id)  # a deleted message
    assert await mod.get_reports() == []


async def test_a_client_away_recovers_a_hide_and_a_restore(
    server: RunningServer, make_sdk: MakeSDK
) -> None:
    mod = await join(server, make_sdk, "reports-away", "mia", "moderator")
    bob = await join(server, make_sdk, "reports-away", "bob")
    reporters = [await join(server, make_sdk, "reports-away", n) for n in ("ann", "cat", "dan")]
    gate = Gate()
    eve = await join(server, make_sdk, "reports-away", "eve", connector=gate)
    first = await bob.send_message("first")
    second = await bob.send_message("second")
    await until(lambda: len(eve.messages) == 2)
    seen = record(eve, Events.CONNECT, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED)

    await cut_off(server, eve, gate)
    for reporter in reporters:
        await reporter.report(first.id)
        await reporter.report(second.id)
    await until(lambda: [m.hidden for m in mod.messages] == [True, True])
    await mod.resolve_report(first.id, "dismiss")
    await until(lambda: [m.hidden for m in mod.messages] == [False, True])
    gate.down = False
    await until(lambda: eve.last_seq == mod.last_seq)
    connects = [p for e, p in seen if e is Events.CONNECT]
    assert [c.recovered for c in connects if isinstance(c, ConnectEvent)] == [True]
    assert [(e, m.id) for e, m in seen if isinstance(m, Message)] == [
        (Events.MESSAGE_HIDDEN, first.id),
        (Events.MESSAGE_HIDDEN, second.id),
        (Events.MESSAGE_RESTORED, first.id),
    ]
    assert [m.id for m in eve.messages] == [first.id]
