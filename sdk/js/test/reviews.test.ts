// Mutes, reports, the review queue, shadow bans and the hold/delay modes against the
// in-process fake server: the frames each call sends (wire names), how replies and pushes
// reach the state and the events, and that what the application gets is camelCase. The
// server's side of these is answered by hooks; the real server's is in
// reviews.functional.test.ts.
import { describe, expect, it } from 'vitest';

import {
  Events,
  InvalidArgumentError,
  isHeld,
  type EventMap,
  type Held,
  type PChatSDK,
} from '../src/index.js';
import { fakeToken, type FakeClient, type FakeUser } from './fakeServer.js';
import { next, sleep, until, useFakeServer } from './helpers.js';
import { watchShapes } from './shapes.js';

const fake = useFakeServer();

const BOB: FakeUser = { id: 'u-bob', username: 'Bob', role: 'viewer' };
const CAT: FakeUser = { id: 'u-cat', username: 'Cat', role: 'viewer' };

/** Every event of `events` that `sdk` fires, as `[event, payload]`. */
function record<E extends keyof EventMap>(sdk: PChatSDK, ...events: E[]): [E, EventMap[E]][] {
  const seen: [E, EventMap[E]][] = [];
  for (const event of events) sdk.on(event, (payload) => seen.push([event, payload]));
  return seen;
}

async function join(name: string, role = 'viewer'): Promise<{ sdk: PChatSDK; shapes: ReturnType<typeof watchShapes> }> {
  const sdk = fake.client();
  const shapes = watchShapes(sdk);
  const id = `u-${name.toLowerCase()}`;
  await sdk.connect('lobby', name, fakeToken(id, role), role === 'viewer' ? {} : { role });
  return { sdk, shapes };
}

/** The fake client of the connection of user `id` (the last one if several). */
function connectionOf(id: string): FakeClient {
  const found = [...fake.server.clients].filter((c) => c.user?.id === id).at(-1);
  if (found === undefined) throw new Error(`${id} is not connected`);
  return found;
}

/** A held message's wire form, as a `send` reply or the review queue carries it. */
function heldWire(id: string, user: FakeUser, text: string, extra: Record<string, unknown> = {}) {
  return { id, ts: 1_700_000_000_500, user, text, reason: 'hold', release_at: null, ...extra };
}

describe('personal mutes', () => {
  it('mute, unmute and getMutes send their frames; the reply and the push that follows fire once; muting drops the held messages', async () => {
    const { sdk: ann, shapes } = await join('Ann');
    fake.server.hook = (client, frame) => {
      const userId = frame.user_id;
      if (frame.type === 'mute' || frame.type === 'unmute') {
        fake.server.reply(client, frame.id, { user_id: userId });
        fake.server.send(client, { type: frame.type === 'mute' ? 'muted' : 'unmuted', user_id: userId });
        return true;
      }
      if (frame.type === 'mutes') {
        fake.server.reply(client, frame.id, { user_ids: ['u-cat'] });
        return true;
      }
      return false;
    };
    fake.server.addMessage('one', BOB);
    fake.server.addMessage('two', CAT);
    fake.server.addMessage('three', BOB);
    await until(() => ann.messages.length === 3);
    const seen = record(ann, Events.MUTED, Events.UNMUTED, Events.MESSAGE);

    await ann.mute('u-bob');
    expect(ann.messages.map((m) => m.text)).toEqual(['two']);
    expect(ann.mutes).toEqual(['u-bob']);
    // A muted user's message still in flight is not held (the server sends a skip later).
    fake.server.addMessage('four', BOB);
    expect(await ann.getMutes()).toEqual(['u-cat']); // a round trip: the push came before
    expect(ann.lastSeq).toBe(4);
    expect(ann.messages.map((m) => m.text)).toEqual([]);
    await ann.unmute('u-cat');
    await ann.getReactionsStats(); // a round trip: the unmuted push came before
    expect(ann.mutes).toEqual([]);
    expect(seen).toEqual([
      ['muted', 'u-bob'],
      ['unmuted', 'u-bob'],
      ['muted', 'u-cat'],
      ['unmuted', 'u-cat'],
    ]);
    expect(fake.server.received.filter((f) => ['mute', 'unmute', 'mutes'].includes(String(f.type)))).toEqual([
      { type: 'mute', id: expect.any(Number), user_id: 'u-bob' },
      { type: 'mutes', id: expect.any(Number) },
      { type: 'unmute', id: expect.any(Number), user_id: 'u-cat' },
    ]);
    expect(shapes.check()).toEqual([]);
  });
});

describe('the review queue', () => {
  it('a held send resolves with the Held and fires nothing; approve publishes it with its id once the push is applied; reject tells the sender', async () => {
    const { sdk: mod, shapes: modShapes } = await join('Mia', 'moderator');
    const { sdk: ann, shapes } = await join('Ann');
    const ANN = connectionOf('u-ann').user as FakeUser;
    const queue = [
      heldWire('h1', ANN, 'hold me', { cid: 'c-1' }),
      heldWire('h2', ANN, 'and me', { reason: 'delay', release_at: 1_700_000_030_500, reply_to: 'm0', mentions: ['u-mia'] }),
    ];
    fake.server.hook = async (client, frame) => {
      switch (frame.type) {
        case 'send': {
          const held = queue.find((h) => h.text === frame.text);
          if (held === undefined) return false;
          fake.server.reply(client, frame.id, { message: null, held, duplicate: false });
          return true;
        }
        case 'review_queue':
          fake.server.reply(client, frame.id, { items: queue });
          return true;
        case 'review_approve': {
          const held = queue.find((h) => h.id === frame.message_id) ?? queue[0];
          fake.server.seq += 1;
          const message = { id: frame.message_id, seq: fake.server.seq, ts: Date.now(), user: held?.user, text: held?.text, deleted: false };
          const push = { type: 'message', seq: fake.server.seq, message };
          fake.server.stream.push(push);
          fake.server.reply(client, frame.id, { message });
          await sleep(50); // the reply first: approve waits for the push
          fake.server.broadcast(push);
          return true;
        }
        case 'review_reject':
          fake.server.reply(client, frame.id, {});
          fake.server.send(connectionOf('u-ann'), { type: 'message_rejected', id: frame.message_id, reason: frame.reason });
          return true;
        default:
          return false;
      }
    };
    const annSeen = record(ann, Events.MESSAGE, Events.MESSAGE_REJECTED);

    const sent = await ann.sendMessage('hold me', { cid: 'c-1' });
    expect(isHeld(sent)).toBe(true);
    expect(sent).toEqual({
      id: 'h1', ts: 1_700_000_000_500, user: ANN, text: 'hold me', cid: 'c-1', reason: 'hold', releaseAt: null,
    } satisfies Held);
    const delayed = await ann.sendMessage('and me');
    expect(delayed).toMatchObject({ reason: 'delay', releaseAt: 1_700_000_030_500, replyTo: 'm0', mentions: ['u-mia'] });
    expect(isHeld(await ann.sendMessage('stored'))).toBe(false);
    shapes.returned('Held', [sent, delayed]);

    const items = await mod.getReviewQueue({ limit: 10 });
    expect(items.map((h) => [h.id, h.reason, h.releaseAt])).toEqual([
      ['h1', 'hold', null],
      ['h2', 'delay', 1_700_000_030_500],
    ]);
    modShapes.returned('Held', items);

    const approved = await mod.approve('h1');
    expect(approved).toMatchObject({ id: 'h1', text: 'hold me', deleted: false });
    expect(mod.messages.map((m) => m.id)).toContain('h1'); // applied before approve resolved
    modShapes.returned('Message', approved);
    await until(() => ann.messages.some((m) => m.id === 'h1'));

    const rejected = next(ann, Events.MESSAGE_REJECTED);
    await mod.reject('h2', { reason: 'off-topic' });
    expect(await rejected).toEqual({ id: 'h2', reason: 'off-topic' });
    expect(annSeen.map(([event, p]) => `${event}:${p.id}`)).toEqual(['message:m1', 'message:h1', 'message_rejected:h2']);
    expect(fake.server.received.filter((f) => String(f.type).startsWith('review_'))).toEqual([
      { type: 'review_queue', id: expect.any(Number), limit: 10 },
      { type: 'review_approve', id: expect.any(Number), message_id: 'h1' },
      { type: 'review_reject', id: expect.any(Number), message_id: 'h2', reason: 'off-topic' },
    ]);
    expect([...shapes.check(), ...modShapes.check()]).toEqual([]);
  });

  it("the moderators' queue pushes fire REVIEW_ADDED and REVIEW_REMOVED", async () => {
    const { sdk: mod, shapes } = await join('Mia', 'moderator');
    const seen = record(mod, Events.REVIEW_ADDED, Events.REVIEW_REMOVED);
    const client = connectionOf('u-mia');
    fake.server.send(client, { type: 'review_add', item: heldWire('h1', BOB, 'psst', { reason: 'filter' }) });
    fake.server.send(client, { type: 'review_remove', id: 'h1', outcome: 'approved', by: client.user });
    fake.server.send(client, { type: 'review_remove', id: 'h2', outcome: 'released', by: null });
    await until(() => seen.length === 3);
    expect(seen).toEqual([
      ['review_added', { id: 'h1', ts: 1_700_000_000_500, user: BOB, text: 'psst', reason: 'filter', releaseAt: null }],
      ['review_removed', { id: 'h1', outcome: 'approved', by: client.user }],
      ['review_removed', { id: 'h2', outcome: 'released', by: null }],
    ]);
    expect(shapes.check()).toEqual([]);
  });
});

describe('reports', () => {
  it('report, getReports and resolveReport send their frames; hide and restore act on viewers and moderators as the contract says', async () => {
    const { sdk: mod, shapes: modShapes } = await join('Mia', 'moderator');
    const { sdk: ann, shapes } = await join('Ann');
    const bad = fake.server.addMessage('bad words', BOB).message as { id: string; seq: number };
    fake.server.addMessage('fine', CAT);
    await until(() => ann.messages.length === 2 && mod.messages.length === 2);
    const report = {
      message: { ...(fake.server.messages.get(bad.id) as object), hidden: true },
      count: 3,
      reasons: ['rude', 'spam'],
      last_ts: 1_700_000_009_000,
      hidden: true,
    };
    fake.server.hook = (client, frame) => {
      switch (frame.type) {
        case 'report':
          fake.server.reply(client, frame.id, {});
          return true;
        case 'reports':
          fake.server.reply(client, frame.id, { reports: [report] });
          return true;
        case 'report_resolve':
          fake.server.reply(client, frame.id, {});
          return true;
        default:
          return false;
      }
    };
    const modSeen = record(mod, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED, Events.REPORT_ADDED, Events.REPORT_REMOVED);
    const annSeen = record(ann, Events.MESSAGE_HIDDEN, Events.MESSAGE_RESTORED, Events.REPORT_ADDED);

    await ann.report(bad.id, { reason: 'rude' });
    await ann.report(bad.id);
    fake.server.send(connectionOf('u-mia'), { type: 'report_add', report });
    fake.server.seq += 1;
    const hide = { type: 'message_hide', seq: fake.server.seq, message_id: bad.id, message_seq: bad.seq, ts: 1_700_000_009_000 };
    fake.server.stream.push(hide);
    fake.server.broadcast(hide);
    await until(() => annSeen.length === 1 && modSeen.length === 2);
    expect(ann.messages.map((m) => m.text)).toEqual(['fine']); // a viewer drops it
    expect(mod.messages.map((m) => [m.text, m.hidden])).toEqual([['bad words', true], ['fine', false]]);

    const reports = await mod.getReports({ limit: 5 });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ count: 3, reasons: ['rude', 'spam'], lastTs: 1_700_000_009_000, hidden: true });
    expect(reports[0]?.message).toMatchObject({ id: bad.id, hidden: true });
    modShapes.returned('Report', reports);

    await mod.resolveReport(bad.id, 'dismiss');
    fake.server.send(connectionOf('u-mia'), { type: 'report_remove', message_id: bad.id, outcome: 'dismissed', by: connectionOf('u-mia').user });
    fake.server.seq += 1;
    const restore = { type: 'message_restore', seq: fake.server.seq, message: fake.server.messages.get(bad.id) };
    fake.server.stream.push(restore);
    fake.server.broadcast(restore);
    await until(() => annSeen.length === 2 && modSeen.length === 4);
    expect(ann.messages.map((m) => [m.text, m.hidden])).toEqual([['bad words', false], ['fine', false]]);
    expect(mod.messages.map((m) => [m.text, m.hidden])).toEqual([['bad words', false], ['fine', false]]);
    expect(annSeen.map(([event, p]) => `${event}:${(p as { id: string }).id}`)).toEqual([
      `message_hidden:${bad.id}`,
      `message_restored:${bad.id}`,
    ]);
    expect(modSeen.map(([event]) => event)).toEqual(['report_added', 'message_hidden', 'report_removed', 'message_restored']);
    expect(modSeen[2]?.[1]).toEqual({ messageId: bad.id, outcome: 'dismissed', by: { id: 'u-mia', username: 'Mia', role: 'moderator' } });
    expect(fake.server.received.filter((f) => String(f.type).startsWith('report'))).toEqual([
      { type: 'report', id: expect.any(Number), message_id: bad.id, reason: 'rude' },
      { type: 'report', id: expect.any(Number), message_id: bad.id },
      { type: 'reports', id: expect.any(Number), limit: 5 },
      { type: 'report_resolve', id: expect.any(Number), message_id: bad.id, action: 'dismiss' },
    ]);
    expect([...shapes.check(), ...modShapes.check()]).toEqual([]);
  });
});

describe('shadow bans and the hold and delay modes', () => {
  it('ban({ shadow }) and setRoomMode({ hold, delay }) send the wire fields; a delay that is not whole seconds is refused before sending', async () => {
    const { sdk: mod, shapes } = await join('Mia', 'moderator');
    fake.server.hook = (client, frame) => {
      if (frame.type === 'ban') {
        const ban = { user_id: frame.user_id, by: client.user, created_at: 1, until: null, reason: '', shadow: frame.shadow === true };
        fake.server.reply(client, frame.id, { ban });
        return true;
      }
      if (frame.type === 'room_mode') {
        const settings = { slow_mode: 0, unique_chat: false, max_message_chars: 0, mode: 'open', hold: frame.hold === true, delay: frame.delay ?? 0 };
        fake.server.reply(client, frame.id, { settings });
        fake.server.broadcast({ type: 'room_settings', settings });
        return true;
      }
      return false;
    };
    const ban = await mod.ban('u-bob', { shadow: true });
    expect(ban).toMatchObject({ userId: 'u-bob', shadow: true });
    expect((await mod.ban('u-cat')).shadow).toBe(false);
    const changed = record(mod, Events.ROOM_SETTINGS);
    const settings = await mod.setRoomMode({ hold: true, delay: 30 });
    expect(settings).toEqual({ slowMode: 0, uniqueChat: false, maxMessageChars: 0, mode: 'open', hold: true, delay: 30 });
    expect(mod.roomSettings).toEqual(settings);
    await expect(mod.setRoomMode({ delay: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await mod.getReactionsStats(); // a round trip: the push came before
    expect(changed).toHaveLength(1); // the reply and the push that follows fire once
    expect(fake.server.received.filter((f) => f.type === 'ban' || f.type === 'room_mode')).toEqual([
      { type: 'ban', id: expect.any(Number), user_id: 'u-bob', shadow: true },
      { type: 'ban', id: expect.any(Number), user_id: 'u-cat' },
      { type: 'room_mode', id: expect.any(Number), hold: true, delay: 30 },
    ]);
    shapes.returned('Ban', ban);
    expect(shapes.check()).toEqual([]);
  });
});

describe('request frames', () => {
  it('a field named id or type cannot override the request’s own (review_approve names the held message message_id)', async () => {
    const { sdk } = await join('Ann');
    const request = (sdk as unknown as { request(type: string, args: object): Promise<unknown> }).request.bind(sdk);
    await expect(request('review_approve', { id: 'h1' })).rejects.toBeInstanceOf(TypeError);
    await expect(request('review_approve', { type: 'send' })).rejects.toBeInstanceOf(TypeError);
    expect(fake.server.requestsOf('review_approve')).toEqual([]);
  });
});
