// The client against the in-process fake server: the seed's flow, listeners, errors,
// queued history and message dedupe.
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import {
  ConflictError,
  Events,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  PChatSDK,
  RateLimitedError,
  RequestError,
  StateError,
  States,
  TokenError,
  type Message,
  type PChatError,
} from '../src/index.js';
import { FakeServer, fakeToken } from './fakeServer.js';
import { next, record, sleep, until, useFakeServer } from './helpers.js';

const fake = useFakeServer();
const client = fake.client;

describe('the seed flow', () => {
  it('runs line by line', async () => {
    fake.server.addMessage('older one');
    fake.server.addMessage('older two');
    const JWT_ACCESS_TOKEN = fakeToken('u-ann');

    const pchatSDK = client();
    const errors: PChatError[] = [];
    const connects: unknown[] = [];
    const received: Message[] = [];
    pchatSDK.on(Events.ERROR, (e) => errors.push(e));
    pchatSDK.on(Events.CONNECT, () => connects.push(true));
    pchatSDK.on(Events.MESSAGE, (message) => received.push(message));

    const connected = await pchatSDK.connect('room_id', 'username', JWT_ACCESS_TOKEN);
    expect(pchatSDK.state).toBe(States.CONNECTED);
    expect(pchatSDK.state).toBe('connected');
    expect(pchatSDK.user).toEqual({ id: 'u-ann', username: 'username', role: 'viewer' });
    expect(connected).toMatchObject({ roomId: 'room_id', seq: 2, recovered: null, epoch: 'e1' });
    expect(connects).toHaveLength(1);

    const page = await pchatSDK.loadHistory();
    expect(page.map((m) => m.text)).toEqual(['older one', 'older two']);
    const texts: string[] = [];
    pchatSDK.messages.forEach((message) => texts.push(message.text));
    expect(texts).toEqual(['older one', 'older two']);

    const sent = await pchatSDK.sendMessage('text');
    expect(sent).toMatchObject({ text: 'text', seq: 3, deleted: false });
    await until(() => pchatSDK.lastSeq === 3);
    expect(received.map((m) => m.text)).toEqual(['text']);
    expect(pchatSDK.messages.map((m) => m.text)).toEqual(['older one', 'older two', 'text']);
    expect(errors).toEqual([]);
  });

  it('uses the page origin by default and builds the WebSocket URL', () => {
    const g = globalThis as { location?: { origin: string } };
    g.location = { origin: 'https://chat.example.com' };
    try {
      expect(new PChatSDK({ WebSocket }).wsUrl).toBe('wss://chat.example.com/public-chat/ws');
    } finally {
      delete g.location;
    }
    expect(new PChatSDK({ url: 'http://h:8080/base/', WebSocket }).wsUrl).toBe(
      'ws://h:8080/base/public-chat/ws',
    );
    expect(() => new PChatSDK({ WebSocket })).toThrow(TypeError);
  });

  it('claims a role, deletes, reacts and runs a poll', async () => {
    const mod = client();
    const ann = client();
    await mod.connect('lobby', 'Mia', fakeToken('u-mia', 'moderator'), { role: 'moderator' });
    expect(mod.user?.role).toBe('moderator');
    await ann.connect('lobby', 'Ann', fakeToken('u-ann'));

    const message = await ann.sendMessage('delete me');
    const deletedEvent = next(ann, Events.MESSAGE_DELETE);
    const deleted = await mod.deleteMessage(message.id);
    expect(deleted).toMatchObject({ id: message.id, deleted: true, text: '' });
    expect((await deletedEvent).deletedBy?.id).toBe('u-mia');
    expect(ann.messages.find((m) => m.id === message.id)?.deleted).toBe(true);

    const reaction = next(mod, Events.REACTION);
    const stats = next(mod, Events.REACTIONS_STATS);
    await ann.sendReaction('like');
    expect(await reaction).toMatchObject({ reaction: 'like', user: { id: 'u-ann' } });
    expect(await stats).toEqual({ like: 1 });
    expect(await ann.getReactionsStats()).toEqual({ like: 1 });
    expect(ann.reactionsStats).toEqual({ like: 1 });

    const pollPush = next(ann, Events.POLL);
    const poll = await mod.createPoll('Tea or coffee?', ['tea', 'coffee']);
    expect(poll).toMatchObject({ status: 'open', totalVotes: 0 });
    expect((await pollPush).id).toBe(poll.id);
    const voted = await ann.vote(poll.id, 1);
    expect(voted.myVote).toBe(1);
    expect(voted.options.map((o) => o.votes)).toEqual([0, 1]);
    const finishedPush = next(ann, Events.POLL, (p) => p.status === 'finished');
    await mod.finishPoll(poll.id);
    const finished = await finishedPush;
    expect(finished.myVote).toBe(1); // kept from the vote reply: pushes carry none
    expect(ann.polls).toHaveLength(1);
    expect((await ann.getPolls())[0]?.status).toBe('finished');

    const later = new Date(Date.now() + 60_000);
    const scheduled = await mod.createPoll('Later?', ['yes', 'no'], later);
    expect(scheduled.publishAt).toBe(later.getTime());
    expect(fake.server.requestsOf('poll_create')[1]?.publish_at).toBe(later.getTime());
    expect(fake.server.requestsOf('poll_create')[0]).not.toHaveProperty('publish_at');
  });

  it('disconnects', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const log = record(sdk, [Events.STATE_CHANGE, Events.DISCONNECT]);
    const disconnected = next(sdk, Events.DISCONNECT);
    await sdk.disconnect();
    expect(sdk.state).toBe(States.DISCONNECTED);
    expect(await disconnected).toEqual({ code: 1000, reason: 'client disconnect', reconnect: false });
    expect(log).toEqual(['state_change:disconnected', 'disconnect']);
    await expect(sdk.sendMessage('x')).rejects.toBeInstanceOf(StateError);
    await sleep(30);
    expect(fake.server.connections).toBe(1); // no reconnect after a disconnect
  });
});

describe('listeners', () => {
  it('are removed in all five forms', async () => {
    const sdk = client();
    const calls: string[] = [];
    const a = () => calls.push('a');
    const b = () => calls.push('b');
    const fireAll = () => {
      const emit = (sdk as unknown as { emit(e: string, p: unknown): void }).emit.bind(sdk);
      for (const e of [Events.CONNECT, Events.MESSAGE, Events.POLL, Events.ONLINE]) emit(e, {});
    };
    const reset = () => {
      sdk.removeAllListeners();
      calls.length = 0;
      sdk.on([Events.CONNECT, Events.MESSAGE, Events.POLL, Events.ONLINE], a);
      sdk.on(Events.MESSAGE, b);
    };

    reset();
    fireAll();
    expect(calls).toEqual(['a', 'a', 'b', 'a', 'a']);

    reset(); // 1. removeAllListeners()
    sdk.removeAllListeners();
    fireAll();
    expect(calls).toEqual([]);

    reset(); // 2. removeAllListeners(event)
    sdk.removeAllListeners(Events.MESSAGE);
    fireAll();
    expect(calls).toEqual(['a', 'a', 'a']);

    reset(); // 3. removeAllListeners([ev1, ev2])
    sdk.removeAllListeners([Events.MESSAGE, Events.POLL]);
    fireAll();
    expect(calls).toEqual(['a', 'a']);

    reset(); // 4. off(event, handler)
    sdk.off(Events.MESSAGE, a);
    fireAll();
    expect(calls).toEqual(['a', 'b', 'a', 'a']);

    reset(); // 5. off([ev1, ev2], handler)
    sdk.off([Events.CONNECT, Events.ONLINE], a);
    fireAll();
    expect(calls).toEqual(['a', 'b', 'a']);
    expect(sdk.listenerCount(Events.MESSAGE)).toBe(2);

    reset(); // once()
    sdk.removeAllListeners();
    sdk.once(Events.ONLINE, a);
    fireAll();
    fireAll();
    expect(calls).toEqual(['a']);

    reset(); // off() removes a once() listener before it ran, as in the Python SDK
    sdk.removeAllListeners();
    sdk.once(Events.ONLINE, a);
    sdk.off(Events.ONLINE, a);
    fireAll();
    expect(calls).toEqual([]);
    expect(sdk.listenerCount(Events.ONLINE)).toBe(0);

    expect(() => sdk.on('nope' as typeof Events.ERROR, a)).toThrow(TypeError);
  });

  it('report a handler that throws through ERROR', async () => {
    const sdk = client();
    const errors: PChatError[] = [];
    sdk.on(Events.ERROR, (e) => errors.push(e));
    sdk.on(Events.CONNECT, () => {
      throw new Error('boom');
    });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    expect(sdk.state).toBe(States.CONNECTED);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.name).toBe('HandlerError');
    expect((errors[0]?.cause as Error).message).toBe('boom');
  });
});

describe('errors', () => {
  it('map to classes with code, name and temporary', async () => {
    const sdk = client();
    await expect(sdk.sendMessage('early')).rejects.toBeInstanceOf(StateError);
    await expect(sdk.loadHistory()).rejects.toBeInstanceOf(StateError);
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));

    const notFound = await sdk.deleteMessage('nope').catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound).toBeInstanceOf(RequestError);
    expect(notFound).toMatchObject({ code: 112, name: 'not_found', temporary: false });

    await expect(sdk.createPoll('q', ['a', 'b'])).rejects.toBeInstanceOf(ForbiddenError);
    await expect(sdk.sendMessage('   ')).rejects.toMatchObject({ code: 110, name: 'message_empty' });
    await expect(sdk.sendMessage('   ')).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(sdk.connect('lobby', 'Ann', fakeToken('u-ann'))).rejects.toBeInstanceOf(StateError);

    const message = await sdk.sendMessage('mine');
    await sdk.deleteMessage(message.id);
    await expect(sdk.deleteMessage(message.id)).rejects.toBeInstanceOf(ConflictError);

    fake.server.hook = (c, frame) => {
      if (frame.type !== 'send') return false;
      fake.server.error(c, frame.id, 108, 'rate_limited', { retry_after_ms: 400 });
      return true;
    };
    const limited = await sdk.sendMessage('fast').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited).toMatchObject({ code: 108, temporary: true, retryAfterMs: 400 });
    expect(sdk.state).toBe(States.CONNECTED);
  });

  it('a refused token rejects connect and is not retried', async () => {
    const sdk = client();
    const states = record(sdk, [Events.STATE_CHANGE]);
    const error = await sdk.connect('lobby', 'Ann', 'forged').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenError);
    expect(error).toMatchObject({ code: 202, name: 'token_bad_signature' });
    expect(sdk.state).toBe(States.DISCONNECTED);
    expect(states).toEqual(['state_change:connecting', 'state_change:disconnected']);
    await sleep(50);
    expect(fake.server.connections).toBe(1);

    await expect(
      sdk.connect('lobby', 'Ann', fakeToken('u-ann'), { role: 'admin' }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('an unreachable server rejects connect', async () => {
    const url = fake.server.url;
    await fake.server.close();
    const sdk = new PChatSDK({ url, WebSocket });
    await expect(sdk.connect('lobby', 'Ann', fakeToken('u-ann'))).rejects.toMatchObject({
      name: 'ConnectionClosedError',
    });
    expect(sdk.state).toBe(States.DISCONNECTED);
    fake.server = await FakeServer.start();
  });
});

describe('history', () => {
  it('loadHistory calls are queued and run in call order', async () => {
    for (let i = 1; i <= 7; i++) fake.server.addMessage(`old ${i}`);
    // Answer history slowly: unqueued calls would all be sent before the first reply.
    fake.server.hook = async (_c, frame) => {
      if (frame.type === 'history') await sleep(30);
      return false;
    };
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const pages: string[][] = [];
    sdk.on(Events.HISTORY_LOAD, (page) => pages.push(page.map((m) => m.text)));
    const results = await Promise.all([
      sdk.loadHistory(null, { limit: 3 }),
      sdk.loadHistory(null, { limit: 3 }),
      sdk.loadHistory(null, { limit: 3 }),
    ]);
    expect(results.map((p) => p.map((m) => m.seq))).toEqual([[5, 6, 7], [2, 3, 4], [1]]);
    expect(pages).toEqual([
      ['old 5', 'old 6', 'old 7'],
      ['old 2', 'old 3', 'old 4'],
      ['old 1'],
    ]);
    expect(fake.server.requestsOf('history').map((f) => f.before_seq)).toEqual([undefined, 5, 2]);
    expect(sdk.hasMoreHistory).toBe(false);
    expect(sdk.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('a failed call does not stop the queue; a timestamp becomes before_ts', async () => {
    fake.server.addMessage('one');
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    let first = true;
    fake.server.hook = (c, frame) => {
      if (frame.type !== 'history' || !first) return false;
      first = false;
      fake.server.error(c, frame.id, 120, 'unavailable');
      return true;
    };
    const a = sdk.loadHistory(1_800_000_000_000);
    const b = sdk.loadHistory(new Date(1_800_000_000_000));
    await expect(a).rejects.toMatchObject({ code: 120, temporary: true });
    expect((await b).map((m) => m.text)).toEqual(['one']);
    expect(fake.server.requestsOf('history').map((f) => f.before_ts)).toEqual([
      1_800_000_000_000, 1_800_000_000_000,
    ]);
  });
});

describe('own messages', () => {
  it('fire MESSAGE once though they arrive as reply and as push', async () => {
    const ann = client();
    const bob = client();
    await ann.connect('lobby', 'Ann', fakeToken('u-ann'));
    await bob.connect('lobby', 'Bob', fakeToken('u-bob'));
    const annLog = record(ann, [Events.MESSAGE]);
    const bobLog = record(bob, [Events.MESSAGE]);
    const one = await ann.sendMessage('one');
    const two = await bob.sendMessage('two');
    await until(() => ann.lastSeq === 2 && bob.lastSeq === 2);
    expect(annLog).toEqual([`message:${one.id}`, `message:${two.id}`]);
    expect(bobLog).toEqual([`message:${one.id}`, `message:${two.id}`]);
    expect(ann.messages.map((m) => m.id)).toEqual([one.id, two.id]);
    const sends = fake.server.requestsOf('send');
    expect(typeof sends[0]?.cid).toBe('string');
    expect(sends[0]?.cid).not.toBe(sends[1]?.cid);
  });

  it('a send whose reply is lost is retried with the same cid after the reconnect', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    let dropped = false;
    fake.server.hook = (c, frame) => {
      if (frame.type !== 'send' || dropped) return false;
      dropped = true;
      fake.server.addMessage(String(frame.text), c.user ?? undefined, String(frame.cid)); // stored…
      fake.server.hook = null;
      const cid = String(frame.cid);
      // …but the reply never arrives: remember the cid as the real server would.
      (fake.server as unknown as { sentCids: Map<string, string> }).sentCids.set(`u-ann/${cid}`, `m${fake.server.seq}`);
      c.ws.terminate();
      return true;
    };
    const log = record(sdk, [Events.MESSAGE]);
    const message = await sdk.sendMessage('only once');
    const sends = fake.server.requestsOf('send');
    expect(sends).toHaveLength(2);
    expect(sends[1]?.cid).toBe(sends[0]?.cid);
    expect(sdk.messages.filter((m) => m.text === 'only once')).toHaveLength(1);
    expect(log).toEqual([`message:${message.id}`]);
  });
});

describe('moderation', () => {
  it('ends a held timeout by itself: UNBANNED once; a newer ban replaces the timer, unbanned cancels it', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const log = record(sdk, [Events.BANNED, Events.UNBANNED]);
    const soon = () => Date.now() + 100;
    const count = (event: string) => log.filter((e) => e === event).length;

    fake.server.broadcast({ type: 'banned', until: soon(), reason: 'calm down' });
    await until(() => count(Events.UNBANNED) === 1);
    expect(count(Events.BANNED)).toBe(1);
    expect(sdk.myBan).toBeNull();

    fake.server.broadcast({ type: 'banned', until: soon(), reason: '' });
    fake.server.broadcast({ type: 'banned', until: null, reason: 'for good' });
    await until(() => count(Events.BANNED) === 3);
    await sleep(200);
    expect(count(Events.UNBANNED)).toBe(1);
    expect(sdk.myBan).toMatchObject({ userId: 'u-ann', until: null, reason: 'for good', createdAt: 0 });

    fake.server.broadcast({ type: 'banned', until: soon(), reason: '' });
    fake.server.broadcast({ type: 'unbanned' });
    await until(() => count(Events.UNBANNED) === 2);
    await sleep(200);
    expect(count(Events.UNBANNED)).toBe(2);
    expect(sdk.myBan).toBeNull();
  });
});
