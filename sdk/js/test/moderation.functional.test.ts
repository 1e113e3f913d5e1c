// Functional: the moderation calls, events and state against the REAL server. A moderator
// times out, bans, kicks and unbans a viewer, sets room modes, pins, purges a spammer and
// pages the moderation log; the viewer's SDK fires the events, holds the state and rejects with the errors
// (docs/moderation.md). Everything handed to the application is checked for camelCase.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import {
  CloseCode,
  ErrorCode,
  Events,
  ForbiddenError,
  InvalidArgumentError,
  NotFoundError,
  PChatSDK,
  RateLimitedError,
  States,
  type ConnectEvent,
  type DisconnectEvent,
  type EventMap,
  type Message,
  type Pin,
  type PurgeEvent,
  type StateChangeEvent,
  type WebSocketConstructor,
} from '../src/index.js';
import { Gate, sleep, stored, until } from './helpers.js';
import { RealServer } from './realServer.js';
import { watchShapes } from './shapes.js';

let server: RealServer;
const clients: PChatSDK[] = [];
const shapes: ReturnType<typeof watchShapes>[] = [];

function client(WebSocketCtor: WebSocketConstructor = WebSocket): PChatSDK {
  const sdk = new PChatSDK({
    url: server.url,
    WebSocket: WebSocketCtor,
    backoffBase: 50,
    backoffMax: 500,
  });
  clients.push(sdk);
  shapes.push(watchShapes(sdk));
  return sdk;
}

async function join(room: string, sub: string, role?: string): Promise<PChatSDK> {
  const sdk = client();
  await sdk.connect(room, sub, await server.token(sub, role), role ? { role } : {});
  return sdk;
}

function record<E extends keyof EventMap>(sdk: PChatSDK, ...events: E[]): [E, EventMap[E]][] {
  const seen: [E, EventMap[E]][] = [];
  for (const event of events) sdk.on(event, (payload) => seen.push([event, payload]));
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('resolved, expected a rejection');
    },
    (error: unknown) => error,
  );
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

describe('moderation against the real server', () => {
  it('a timeout fires BANNED, refuses writes with until, and ends by itself (UNBANNED)', async () => {
    const mod = await join('mod-t', 'mia', 'moderator');
    const bob = await join('mod-t', 'bob');
    const seen = record(bob, Events.BANNED, Events.UNBANNED);
    const ban = await mod.ban('bob', { durationSeconds: 2, reason: 'calm down' });
    shapes[0]?.returned('Ban', ban);
    expect(ban).toMatchObject({ userId: 'bob', by: { id: 'mia' }, reason: 'calm down' });
    expect(ban.until).toEqual(expect.any(Number));
    await until(() => seen.length === 1);
    expect(seen).toEqual([[Events.BANNED, { until: ban.until, reason: 'calm down' }]]);
    expect(bob.myBan?.until).toBe(ban.until);
    const refused = await rejection(bob.sendMessage('hi'));
    expect(refused).toBeInstanceOf(ForbiddenError);
    const error = refused as ForbiddenError;
    expect([error.code, error.until, error.temporary]).toEqual([ErrorCode.BANNED, ban.until, true]);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(2_000);
    expect(await rejection(bob.sendReaction('like'))).toBeInstanceOf(ForbiddenError);
    // The server pushes nothing when a timeout ends; the SDK fires UNBANNED itself.
    await until(() => seen.length === 2, 4_000, 'UNBANNED');
    expect(seen[1]).toEqual([Events.UNBANNED, null]);
    expect(bob.myBan).toBeNull();
    expect((await bob.sendMessage('back')).text).toBe('back');
  });

  it('a ban until lifted, and unban', async () => {
    const mod = await join('mod-b', 'mia', 'moderator');
    const bob = await join('mod-b', 'bob');
    const seen = record(bob, Events.BANNED, Events.UNBANNED);
    await mod.ban('bob', { reason: 'spam' });
    await until(() => bob.myBan !== null);
    expect(seen).toEqual([[Events.BANNED, { until: null, reason: 'spam' }]]);
    const error = (await rejection(bob.sendMessage('hi'))) as ForbiddenError;
    expect([error.code, error.until, error.temporary]).toEqual([ErrorCode.BANNED, null, false]);
    const bans = await mod.getBans();
    bans.forEach((b) => shapes[0]?.returned('Ban', b));
    expect(bans.map((b) => b.userId)).toEqual(['bob']);
    await mod.unban('bob');
    await until(() => seen.length === 2);
    expect(seen[1]).toEqual([Events.UNBANNED, null]);
    expect(bob.myBan).toBeNull();
    expect((await bob.sendMessage('free')).text).toBe('free');
    expect(await mod.getBans()).toEqual([]);
    expect(await rejection(mod.unban('bob'))).toBeInstanceOf(NotFoundError);
  });

  it("a kick ends the viewer's client for good (4506, no reconnect)", async () => {
    const mod = await join('mod-k', 'mia', 'moderator');
    const bob = await join('mod-k', 'bob');
    const disconnects: DisconnectEvent[] = [];
    bob.on(Events.DISCONNECT, (event) => disconnects.push(event));
    await mod.ban('bob', { durationSeconds: 600, kick: true });
    await until(() => bob.state === States.DISCONNECTED);
    expect(disconnects).toEqual([{ code: CloseCode.KICKED, reason: 'banned from the room', reconnect: false }]);
    await sleep(500); // no reconnect follows
    expect(bob.state).toBe(States.DISCONNECTED);
    expect(disconnects).toHaveLength(1);
    // Coming back to read: the connect reply holds the timeout.
    await bob.connect('mod-k', 'bob', await server.token('bob'));
    expect(bob.myBan?.by.id).toBe('mia');
    expect(await rejection(bob.sendMessage('let me in'))).toBeInstanceOf(ForbiddenError);
  });

  it('room modes: slow mode, moderators only', async () => {
    const mod = await join('mod-r', 'mia', 'moderator');
    const bob = await join('mod-r', 'bob');
    const settings = record(bob, Events.ROOM_SETTINGS);
    const held = await mod.setRoomMode({ slowMode: 30 });
    expect(held).toEqual({ slowMode: 30, uniqueChat: false, maxMessageChars: 0, mode: 'open', hold: false, delay: 0 });
    expect(mod.roomSettings).toEqual(held);
    await until(() => settings.length === 1);
    expect(settings[0]?.[1]).toEqual(held);
    expect(bob.roomSettings.slowMode).toBe(30);
    await bob.sendMessage('one');
    const limited = await rejection(bob.sendMessage('two'));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBeGreaterThan(20_000);
    await mod.sendMessage('moderators are exempt');

    await mod.setRoomMode({ slowMode: 0, mode: 'moderators_only' });
    await until(() => bob.roomSettings.mode === 'moderators_only');
    const refused = (await rejection(bob.sendMessage('hi'))) as ForbiddenError;
    expect(refused.code).toBe(ErrorCode.ROOM_MODE);
    const late = await join('mod-r', 'cat');
    expect(late.roomSettings).toEqual({ slowMode: 0, uniqueChat: false, maxMessageChars: 0, mode: 'moderators_only', hold: false, delay: 0 });
    expect(await rejection(mod.setRoomMode({ slowMode: 1.5 }))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(bob.setRoomMode({ mode: 'open' }))).toBeInstanceOf(ForbiddenError);
  });

  it('pin a message, an announcement, and unpin', async () => {
    const mod = await join('mod-p', 'mia', 'moderator');
    const bob = await join('mod-p', 'bob');
    const pins: (Pin | null)[] = [];
    bob.on(Events.PIN, (pin) => pins.push(pin));
    expect(bob.pin).toBeNull();
    const sent = await bob.sendMessage('pin me');
    expect(await rejection(bob.pinMessage(sent.id))).toBeInstanceOf(ForbiddenError);
    const pin = await mod.pinMessage(sent.id);
    shapes[0]?.returned('Pin', pin);
    expect(pin.message?.id).toBe(sent.id);
    expect(mod.pin).toEqual(pin);
    await until(() => pins.length === 1);
    expect(pins[0]).toEqual(pin);
    expect(bob.pin).toEqual(pin);
    const announcement = await mod.pinAnnouncement('Show starts at 8');
    expect(announcement).toMatchObject({ text: 'Show starts at 8', message: null });
    await until(() => pins.length === 2);
    expect(bob.pin).toEqual(announcement);
    const late = await join('mod-p', 'cat');
    expect(late.pin).toEqual(announcement);
    await mod.unpin();
    await until(() => pins.length === 3);
    expect(pins[2]).toBeNull();
    expect(bob.pin).toBeNull();
    expect(mod.pin).toBeNull();
  });

  it('the moderation log in pages', async () => {
    const mod = await join('mod-l', 'mia', 'moderator');
    const viewer = await join('mod-l', 'vic');
    await mod.ban('bob', { durationSeconds: 60, reason: 'spam' });
    await mod.unban('bob');
    await mod.setRoomMode({ slowMode: 5 });
    await mod.pinAnnouncement('hello');
    await mod.unpin();
    expect(await rejection(viewer.getModLog())).toBeInstanceOf(ForbiddenError);
    const page = await mod.getModLog({ limit: 3 });
    shapes[0]?.returned('ModLogPage', page);
    expect(page.entries.map((e) => e.action)).toEqual(['unpin', 'pin', 'room_mode']);
    expect(page.hasMore).toBe(true);
    expect(page.entries[2]?.details).toEqual({ slowMode: 5 });
    const rest = await mod.getModLog({ before: page.entries.at(-1)?.id ?? 0 });
    shapes[0]?.returned('ModLogPage', rest);
    expect(rest.entries.map((e) => e.action)).toEqual(['unban', 'timeout']);
    expect(rest.hasMore).toBe(false);
    expect(rest.entries.at(-1)).toMatchObject({ targetUserId: 'bob', reason: 'spam', by: { id: 'mia' } });
  });

  it('the word filter: admins manage it; block refuses, mask masks', async () => {
    const ada = await join('wf', 'ada', 'admin');
    const bob = await join('wf', 'bob');
    await expect(bob.addFilterEntry('spam')).rejects.toBeInstanceOf(ForbiddenError);
    expect(await ada.addFilterEntry('spam')).toEqual({ pattern: 'spam', action: 'block' });
    await ada.addFilterEntry('darn', { action: 'mask' });
    await ada.addFilterEntry('scam*', { server: true });
    expect(await ada.getFilterEntries()).toEqual([
      { pattern: 'spam', action: 'block' },
      { pattern: 'darn', action: 'mask' },
    ]);
    expect(await ada.getFilterEntries({ server: true })).toEqual([{ pattern: 'scam*', action: 'block' }]);
    await expect(bob.sendMessage('s p a m')).rejects.toMatchObject({ code: ErrorCode.BLOCKED_WORD });
    expect((await bob.sendMessage('darn it')).text).toBe('**** it');
    await ada.removeFilterEntry('spam');
    await expect(ada.removeFilterEntry('spam')).rejects.toBeInstanceOf(NotFoundError);
    await sleep(200);
    expect((await bob.sendMessage('spam')).text).toBe('spam');
  });

  it('a purge removes a spammer\'s messages: MESSAGE_DELETE for each, PURGE once, no reconnect', async () => {
    const mod = await join('mod-purge', 'mia', 'moderator');
    const spam = await join('mod-purge', 'spam');
    const ann = await join('mod-purge', 'ann');
    const deletes: Message[] = [];
    const purges: PurgeEvent[] = [];
    const changes: StateChangeEvent[] = [];
    const disconnects: DisconnectEvent[] = [];
    ann.on(Events.MESSAGE_DELETE, (m) => deletes.push(m));
    ann.on(Events.PURGE, (p) => purges.push(p));
    ann.on(Events.STATE_CHANGE, (c) => changes.push(c));
    ann.on(Events.DISCONNECT, (d) => disconnects.push(d));
    const sent: Message[] = [];
    for (let i = 0; i < 3; i += 1) sent.push(await stored(spam.sendMessage(`buy now ${i}`)));
    const kept = await stored(ann.sendMessage('a real question'));
    await until(() => ann.messages.length === 4);
    expect(await rejection(ann.purge('spam'))).toBeInstanceOf(ForbiddenError);
    const result = await mod.purge('spam');
    shapes[0]?.returned('PurgeResult', result);
    expect(result).toEqual({ seq: kept.seq + 1, count: 3 });
    // The call resolves once the moderator's own client applied the purge.
    expect(mod.messages.map((m) => m.deleted)).toEqual([true, true, true, false]);
    await until(() => purges.length === 1, undefined, 'PURGE');
    expect(deletes.map((m) => m.id)).toEqual(sent.map((m) => m.id));
    expect(deletes.every((m) => m.text === '' && m.deleted)).toBe(true);
    expect(purges[0]).toMatchObject({ userId: 'spam', since: 0, count: 3, deletedBy: { id: 'mia' } });
    expect(ann.messages.map((m) => [m.text, m.deleted])).toEqual([
      ['', true],
      ['', true],
      ['', true],
      [kept.text, false],
    ]);
    for (const m of ann.messages.slice(0, 3)) {
      expect([m.deletedBy?.id, m.deletedAt]).toEqual(['mia', purges[0]?.ts]);
    }
    await until(() => spam.messages.filter((m) => m.deleted).length === 3);
    // The stream goes on with no gap: the next message arrives and nothing reconnected.
    const after = await stored(mod.sendMessage('carry on'));
    await until(() => ann.messages.some((m) => m.id === after.id));
    expect(ann.lastSeq).toBe(after.seq);
    expect(ann.state).toBe(States.CONNECTED);
    expect([changes, disconnects]).toEqual([[], []]);
    // Nothing left to purge; withinSeconds; a fraction of a second is refused.
    expect(await mod.purge('spam', { withinSeconds: 600 })).toEqual({ seq: null, count: 0 });
    expect(await rejection(mod.purge('spam', { withinSeconds: 1.5 }))).toBeInstanceOf(InvalidArgumentError);
  });

  it('a client away during a purge recovers it: the same messages deleted', async () => {
    const mod = await join('mod-away', 'mia', 'moderator');
    const spam = await join('mod-away', 'spam');
    const gate = new Gate();
    const bob = client(gate.WebSocket);
    await bob.connect('mod-away', 'bob', await server.token('bob'));
    const connects: ConnectEvent[] = [];
    const deletes: Message[] = [];
    const purges: PurgeEvent[] = [];
    bob.on(Events.CONNECT, (c) => connects.push(c));
    bob.on(Events.MESSAGE_DELETE, (m) => deletes.push(m));
    bob.on(Events.PURGE, (p) => purges.push(p));
    const held = [await spam.sendMessage('spam 0'), await spam.sendMessage('spam 1')];
    await until(() => bob.messages.length === 2);
    // Bob's network goes down: his connection drops and no reconnect gets through.
    gate.cut();
    await until(() => bob.state === States.RECONNECTING);
    const missed = await spam.sendMessage('spam while away');
    const kept = await mod.sendMessage('welcome back');
    expect((await mod.purge('spam')).count).toBe(3);
    gate.down = false;
    await until(() => purges.length === 1, undefined, 'PURGE after the reconnect');
    expect(connects.map((c) => c.recovered)).toEqual([true]);
    const marks = (sdk: PChatSDK) => sdk.messages.map((m) => [m.id, m.deleted]);
    expect(marks(bob)).toEqual(marks(mod));
    expect(marks(bob)).toEqual([...[...held, missed].map((m) => [m.id, true]), [kept.id, false]]);
    // The two held messages fire MESSAGE_DELETE; the one missed was replayed already deleted.
    expect(deletes.map((m) => m.id)).toEqual(held.map((m) => m.id));
    expect(purges[0]).toMatchObject({ userId: 'spam', since: 0, count: 3 });
  });
});
