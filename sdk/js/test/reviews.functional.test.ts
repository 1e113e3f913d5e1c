// Functional: who sees what, reports and the review queue against the REAL server (#11):
// shadow bans (only the author and the staff see the messages, everyone else skips them),
// personal mutes on every device, reports that hide a message until a moderator decides,
// and held messages (hold mode, chat delay) that a moderator approves or rejects. What the
// SDK hands the application is checked against sdk_surface.json (camelCase) as it goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import {
  Events,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  PChatSDK,
  isHeld,
  type EventMap,
  type Held,
  type Message,
  type WebSocketConstructor,
} from '../src/index.js';
import { Gate, stored, until } from './helpers.js';
import { RealServer } from './realServer.js';
import { watchShapes } from './shapes.js';

let server: RealServer;
const clients: PChatSDK[] = [];
const shapes: ReturnType<typeof watchShapes>[] = [];

async function join(
  room: string,
  sub: string,
  role?: string,
  WebSocketCtor: WebSocketConstructor = WebSocket,
): Promise<PChatSDK> {
  const sdk = new PChatSDK({ url: server.url, WebSocket: WebSocketCtor, backoffBase: 50, backoffMax: 500 });
  clients.push(sdk);
  shapes.push(watchShapes(sdk));
  await sdk.connect(room, sub, await server.token(sub, role), role ? { role } : {});
  return sdk;
}

function record<E extends keyof EventMap>(sdk: PChatSDK, ...events: E[]): [E, EventMap[E]][] {
  const seen: [E, EventMap[E]][] = [];
  for (const event of events) sdk.on(event, (payload) => seen.push([event, payload]));
  return seen;
}

const texts = (messages: readonly Message[]) => messages.map((m) => m.text);

/** What `sendMessage` resolved with, which must be a held message. */
async function held(sending: Promise<Message | Held>): Promise<Held> {
  const sent = await sending;
  if (!isHeld(sent)) throw new Error(`message ${sent.id} was stored, not held`);
  return sent;
}

beforeAll(async () => {
  server = await RealServer.start();
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  // Every event payload, what each client holds, and every call result checked below.
  expect(shapes.flatMap((s) => s.check())).toEqual([]);
  await server?.stop();
});

describe('shadow bans', () => {
  it('a shadow-banned user writes as before; only they and the staff (marked) see it, everyone else skips it', async () => {
    const mod = await join('shadow', 'mia', 'moderator');
    const troll = await join('shadow', 'troll');
    const ann = await join('shadow', 'ann');
    const told = record(troll, Events.BANNED, Events.UNBANNED);
    const annSaw = record(ann, Events.MESSAGE);
    await expect(ann.ban('troll', { shadow: true })).rejects.toBeInstanceOf(ForbiddenError);
    const ban = await mod.ban('troll', { shadow: true, reason: 'spam' });
    expect(ban).toMatchObject({ userId: 'troll', until: null, reason: 'spam', shadow: true });
    expect((await mod.getBans()).map((b) => b.shadow)).toEqual([true]);

    const sent = await stored(troll.sendMessage('buy now'));
    const after = await stored(mod.sendMessage('hello all'));
    // Everyone's position passes the shadow message; only its author and the staff hold it.
    await until(() => [ann, troll, mod].every((sdk) => sdk.lastSeq === after.seq));
    expect(troll.messages.map((m) => [m.text, m.shadow])).toEqual([['buy now', false], ['hello all', false]]);
    expect([troll.myBan, told]).toEqual([null, []]); // the user notices nothing
    expect(mod.messages.map((m) => [m.id, m.shadow])).toEqual([[sent.id, true], [after.id, false]]);
    expect(texts(ann.messages)).toEqual(['hello all']);
    expect(annSaw.map(([, m]) => m.id)).toEqual([after.id]);
    // History leaves it out for others, as the stream did, and marks it for the staff.
    expect(texts(await (await join('shadow', 'cat')).loadHistory())).toEqual(['hello all']);
    const staffPage = await (await join('shadow', 'ada', 'admin')).loadHistory();
    expect(staffPage.map((m) => [m.id, m.shadow])).toEqual([[sent.id, true], [after.id, false]]);

    // Lifted: the user's new messages reach everyone again.
    await mod.unban('troll');
    const back = await stored(troll.sendMessage('sorry'));
    await until(() => ann.messages.some((m) => m.id === back.id));
    expect([told, texts(ann.messages)]).toEqual([[], ['hello all', 'sorry']]);
  });

  it('a client away recovers a skip in place of a shadow-banned user’s message, with no gap', async () => {
    const mod = await join('shadow-away', 'mia', 'moderator');
    const troll = await join('shadow-away', 'troll');
    const gate = new Gate();
    const ann = await join('shadow-away', 'ann', undefined, gate.WebSocket);
    const connects = record(ann, Events.CONNECT);
    await mod.ban('troll', { shadow: true });
    gate.cut();
    await until(() => ann.state === 'reconnecting');
    await stored(troll.sendMessage('while you were away'));
    const last = await stored(mod.sendMessage('welcome back'));
    gate.down = false;
    await until(() => ann.lastSeq === last.seq, 10_000, 'recovered');
    expect(connects.map(([, e]) => e.recovered)).toEqual([true]);
    expect(texts(ann.messages)).toEqual(['welcome back']);
  });
});

describe('personal mutes', () => {
  it('a mute drops the user’s messages on every device of the muting user and follows them; unmute, and the errors', async () => {
    const bob = await join('mutes', 'bob');
    const ann = await join('mutes', 'ann');
    const phone = await join('mutes', 'ann'); // Ann's second device
    const cat = await join('mutes', 'cat');
    const early = await stored(bob.sendMessage('first'));
    await until(() => ann.messages.length === 1 && phone.messages.length === 1);
    const seen = record(ann, Events.MUTED, Events.UNMUTED, Events.MESSAGE);
    const onPhone = record(phone, Events.MUTED, Events.UNMUTED);
    expect(ann.mutes).toEqual([]);

    await ann.mute('bob');
    expect([ann.mutes, ann.messages, seen]).toEqual([['bob'], [], [[Events.MUTED, 'bob']]]);
    await until(() => onPhone.length === 1); // the push to her other device
    expect([onPhone, phone.mutes, phone.messages]).toEqual([[[Events.MUTED, 'bob']], ['bob'], []]);
    expect(await ann.getMutes()).toEqual(['bob']);
    expect(seen).toHaveLength(1); // her own push after the reply fired nothing

    await stored(bob.sendMessage('you cannot see this'));
    const last = await stored(cat.sendMessage('but this'));
    await until(() => ann.lastSeq === last.seq && phone.lastSeq === last.seq);
    expect([texts(ann.messages), texts(phone.messages)]).toEqual([['but this'], ['but this']]);
    expect(texts(cat.messages)).toEqual(['first', 'you cannot see this', 'but this']);
    // Kept on the server: a new connect holds it, in any room, and history leaves Bob out.
    const again = await join('mutes', 'ann');
    expect(again.mutes).toEqual(['bob']);
    expect(texts(await again.loadHistory())).toEqual(['but this']);
    expect((await join('mutes-elsewhere', 'ann')).mutes).toEqual(['bob']);

    await ann.unmute('bob');
    expect([ann.mutes, seen.at(-1)]).toEqual([[], [Events.UNMUTED, 'bob']]);
    await until(() => phone.mutes.length === 0 && onPhone.length === 2);
    const back = await stored(bob.sendMessage('hi again'));
    await until(() => ann.lastSeq === back.seq);
    expect(texts(ann.messages)).toEqual(['but this', 'hi again']); // unmuting brings nothing back
    expect(ann.messages.some((m) => m.id === early.id)).toBe(false);
    await expect(ann.unmute('bob')).rejects.toBeInstanceOf(NotFoundError);
    await expect(ann.mute('ann')).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('reports', () => {
  it('three reports hide a message (viewers drop it, the staff keep it marked) until a moderator dismisses them; delete; the errors', async () => {
    const mod = await join('reports', 'mia', 'moderator');
    const bob = await join('reports', 'bob');
    const eve = await join('reports', 'eve');
    const reporters = [await join('reports', 'ann'), await join('reports', 'cat'), await join('reports', 'dan')];
    const before = await stored(mod.sendMessage('welcome'));
    const rude = await stored(bob.sendMessage('something rude'));
    const after = await stored(mod.sendMessage('be nice'));
    await until(() => eve.messages.length === 3 && mod.messages.length === 3);
    const staff = record(mod, Events.REPORT_ADDED, Events.REPORT_REMOVED, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED);
    const watched = record(eve, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED, Events.MESSAGE_DELETE);
    const [ann, cat, dan] = reporters as [PChatSDK, PChatSDK, PChatSDK];

    await expect(bob.report(rude.id)).rejects.toBeInstanceOf(InvalidRequestError); // one's own
    await expect(eve.report('no-such-message')).rejects.toBeInstanceOf(NotFoundError);
    await ann.report(rude.id, { reason: 'rude' });
    await until(() => staff.length === 1);
    expect(staff[0]).toEqual([
      Events.REPORT_ADDED,
      expect.objectContaining({ count: 1, reasons: ['rude'], hidden: false, message: expect.objectContaining({ id: rude.id }) }),
    ]);
    await ann.report(rude.id, { reason: 'again' }); // once per user: nothing changes
    await cat.report(rude.id, { reason: 'spam' });
    await until(() => staff.length === 2);
    expect(staff[1]?.[1]).toMatchObject({ count: 2, reasons: ['spam', 'rude'] });

    // The third report hides it: one stream event that every client applies.
    await dan.report(rude.id);
    await until(() => watched.length === 1 && staff.some(([e]) => e === Events.MESSAGE_HIDDEN));
    expect(watched[0]).toEqual([Events.MESSAGE_HIDDEN, expect.objectContaining({ id: rude.id, hidden: true })]);
    expect(eve.messages.map((m) => m.id)).toEqual([before.id, after.id]); // the viewer dropped it
    expect(mod.messages.map((m) => [m.id, m.hidden])).toEqual([[before.id, false], [rude.id, true], [after.id, false]]);
    const reports = await mod.getReports();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ count: 3, reasons: ['spam', 'rude'], hidden: true, message: { id: rude.id, hidden: true } });
    await expect(eve.getReports()).rejects.toBeInstanceOf(ForbiddenError);
    await expect(eve.resolveReport(rude.id, 'dismiss')).rejects.toBeInstanceOf(ForbiddenError);
    expect(texts(await (await join('reports', 'fay')).loadHistory())).toEqual(['welcome', 'be nice']);

    // Dismissed: shown again at its place.
    await mod.resolveReport(rude.id, 'dismiss');
    await until(() => watched.length === 2 && staff.some(([e]) => e === Events.MESSAGE_RESTORED));
    expect(watched[1]).toEqual([Events.MESSAGE_RESTORED, expect.objectContaining({ id: rude.id, hidden: false })]);
    expect(eve.messages.map((m) => m.id)).toEqual([before.id, rude.id, after.id]);
    expect(mod.messages.map((m) => m.hidden)).toEqual([false, false, false]);
    await until(() => staff.some(([e]) => e === Events.REPORT_REMOVED));
    expect(staff.find(([e]) => e === Events.REPORT_REMOVED)?.[1]).toEqual({ messageId: rude.id, outcome: 'dismissed', by: mod.user });
    await expect(mod.resolveReport(rude.id, 'dismiss')).rejects.toBeInstanceOf(NotFoundError);

    // Deleted: as any delete.
    await ann.report(after.id, { reason: 'preachy' });
    await until(() => staff.filter(([e]) => e === Events.REPORT_ADDED).length === 4);
    await mod.resolveReport(after.id, 'delete');
    await until(() => watched.length === 3);
    expect(watched[2]).toEqual([Events.MESSAGE_DELETE, expect.objectContaining({ id: after.id, deleted: true })]);
    await until(() => staff.filter(([e]) => e === Events.REPORT_REMOVED).length === 2);
    expect(staff.filter(([e]) => e === Events.REPORT_REMOVED)[1]?.[1]).toMatchObject({ messageId: after.id, outcome: 'deleted' });
  });
});

describe('the review queue', () => {
  it('hold mode: a send resolves with the Held; the moderators see it, approve it (MESSAGE with its id everywhere) or reject it (MESSAGE_REJECTED)', async () => {
    const mod = await join('review', 'mia', 'moderator');
    const bob = await join('review', 'bob');
    const ann = await join('review', 'ann');
    const queue = record(mod, Events.REVIEW_ADDED, Events.REVIEW_REMOVED);
    const told = record(bob, Events.MESSAGE, Events.MESSAGE_REJECTED);
    await expect(bob.setRoomMode({ hold: true })).rejects.toBeInstanceOf(ForbiddenError);
    expect(await mod.setRoomMode({ hold: true })).toMatchObject({ hold: true, delay: 0 });
    await until(() => bob.roomSettings.hold);

    const first = await held(bob.sendMessage('first!', { cid: 'c-1' }));
    expect(first).toMatchObject({ text: 'first!', reason: 'hold', releaseAt: null, cid: 'c-1', user: { id: 'bob' } });
    expect([bob.messages, told]).toEqual([[], []]);
    expect(await bob.sendMessage('first!', { cid: 'c-1' })).toEqual(first); // the same cid: the same held message
    await until(() => queue.length === 1);
    expect(queue[0]).toEqual([Events.REVIEW_ADDED, first]);
    expect(await mod.getReviewQueue()).toEqual([first]);
    await expect(bob.getReviewQueue()).rejects.toBeInstanceOf(ForbiddenError);
    await expect(bob.approve(first.id)).rejects.toBeInstanceOf(ForbiddenError);

    const approved = await mod.approve(first.id);
    expect(approved).toMatchObject({ id: first.id, text: 'first!', user: { id: 'bob' } });
    expect(mod.messages.at(-1)?.id).toBe(first.id); // applied before approve resolved
    await until(() => [ann, bob].every((sdk) => sdk.messages.some((m) => m.id === first.id)));
    expect(told.map(([e, p]) => [e, p.id])).toEqual([[Events.MESSAGE, first.id]]); // the sender sees it arrive
    await until(() => queue.length === 2);
    expect(queue[1]).toEqual([Events.REVIEW_REMOVED, { id: first.id, outcome: 'approved', by: mod.user }]);
    await expect(mod.approve(first.id)).rejects.toBeInstanceOf(NotFoundError);

    const second = await held(bob.sendMessage('second'));
    await until(() => queue.length === 3);
    await mod.reject(second.id, { reason: 'off-topic' });
    await until(() => told.length === 2 && queue.length === 4);
    expect(told[1]).toEqual([Events.MESSAGE_REJECTED, { id: second.id, reason: 'off-topic' }]);
    expect(queue[3]).toEqual([Events.REVIEW_REMOVED, { id: second.id, outcome: 'rejected', by: mod.user }]);
    await expect(mod.reject(second.id)).rejects.toBeInstanceOf(NotFoundError);
    expect([ann, bob, mod].some((sdk) => sdk.messages.some((m) => m.id === second.id))).toBe(false);

    await mod.setRoomMode({ hold: false });
    await until(() => !bob.roomSettings.hold);
    expect(isHeld(await bob.sendMessage('free again'))).toBe(false);
  });

  it('the chat delay releases a viewer’s message by itself, with the held id', async () => {
    const mod = await join('delay', 'mia', 'moderator');
    const bob = await join('delay', 'bob');
    const ann = await join('delay', 'ann');
    const queue = record(mod, Events.REVIEW_ADDED, Events.REVIEW_REMOVED);
    await expect(mod.setRoomMode({ delay: 0.5 })).rejects.toThrow('whole seconds');
    expect(await mod.setRoomMode({ delay: 1 })).toMatchObject({ hold: false, delay: 1 });
    await until(() => bob.roomSettings.delay === 1);
    const late = await held(bob.sendMessage('a little late'));
    expect(late.reason).toBe('delay');
    expect((late.releaseAt ?? 0) - late.ts).toBeGreaterThanOrEqual(900);
    expect((late.releaseAt ?? 0) - late.ts).toBeLessThanOrEqual(1_100);
    await until(() => queue.length === 1);
    // Released by the server when the delay ends: everyone gets it, with the held id.
    await until(() => [ann, bob, mod].every((sdk) => sdk.messages.some((m) => m.id === late.id)), 10_000, 'released');
    await until(() => queue.length === 2);
    expect(queue[1]).toEqual([Events.REVIEW_REMOVED, { id: late.id, outcome: 'released', by: null }]);
    expect(isHeld(await mod.sendMessage('moderators are not delayed'))).toBe(false);
  });
});
