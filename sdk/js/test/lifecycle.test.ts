// The connection lifecycle as vendor-style code drives it, against the fake server:
// connect() while connecting or reconnecting, calls made while reconnecting, the DISCONNECT
// payload; the timestamps loadHistory and createPoll accept (the shared vectors
// ../../tests/vectors/timestamps.json); listener removal. tests/sdk/test_lifecycle.py is
// the Python SDK's twin of this file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  ConnectionClosedError,
  Events,
  InvalidArgumentError,
  PChatError,
  RequestTimeoutError,
  StateError,
  States,
  TokenError,
  type ConnectEvent,
  type DisconnectEvent,
  type EventMap,
  type PChatSDK,
  type StateChangeEvent,
} from '../src/index.js';
import { timestampMs } from '../src/timestamps.js';
import { fakeToken } from './fakeServer.js';
import { sleep, until, useFakeServer } from './helpers.js';

interface Vectors {
  accepted: { value: unknown; ms: number }[];
  local: { value: string; fields: [number, number, number, number, number, number, number] }[];
  rejected: unknown[];
}

const FILE = fileURLToPath(new URL('../../../tests/vectors/timestamps.json', import.meta.url));
const vectors = JSON.parse(readFileSync(FILE, 'utf8')) as Vectors;

const fake = useFakeServer();
const client = fake.client;
const ANN = fakeToken('u-ann');

/** Drop the connection and keep the SDK reconnecting (its token refused as busy). */
async function reconnecting(sdk: PChatSDK, token = ANN): Promise<void> {
  fake.server.busyTokens.add(token);
  fake.server.dropAll();
  await until(() => sdk.state === States.RECONNECTING, 5_000, 'reconnecting');
}

function recorded<E extends keyof EventMap>(sdk: PChatSDK, event: E): EventMap[E][] {
  const seen: EventMap[E][] = [];
  sdk.on(event, (payload) => {
    seen.push(payload);
  });
  return seen;
}

function settled<T>(promise: Promise<T>): { done: boolean } {
  const state = { done: false };
  promise.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

describe('connect() while connecting or reconnecting', () => {
  it('joins the reconnection when called with the same arguments', async () => {
    const sdk = client();
    const disconnects: DisconnectEvent[] = recorded(sdk, Events.DISCONNECT);
    const connects: ConnectEvent[] = recorded(sdk, Events.CONNECT);
    const errors: PChatError[] = recorded(sdk, Events.ERROR);
    await sdk.connect('lobby', 'Ann', ANN);
    await reconnecting(sdk);
    expect(disconnects.map((d) => [d.code, d.reconnect])).toEqual([[1006, true]]);

    const joined = sdk.connect('lobby', 'Ann', ANN);
    const state = settled(joined);
    await until(() => fake.server.requestsOf('connect').length >= 3); // the SDK's own attempts go on
    expect(state.done).toBe(false);
    expect(sdk.state).toBe(States.RECONNECTING);
    fake.server.busyTokens.clear();
    const event = await joined;
    expect(event).toBe(connects.at(-1));
    expect(event.recovered).toBe(true);
    expect(connects).toHaveLength(2);
    expect(fake.server.requestsOf('connect').slice(1).every((f) => f.recover !== undefined)).toBe(true);
    // Every connect and reconnect says that the SDK takes a sampled stream.
    expect(fake.server.requestsOf('connect').every((f) => f.sampling === true)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('joins a connect under way; other arguments then, or any while connected, are refused', async () => {
    fake.server.hook = async (_c, frame) => {
      if (frame.type === 'connect') await sleep(100);
      return false;
    };
    const sdk = client();
    const first = sdk.connect('lobby', 'Ann', ANN);
    expect(sdk.state).toBe(States.CONNECTING);
    await expect(sdk.connect('lobby', 'Bob', fakeToken('u-bob'))).rejects.toBeInstanceOf(StateError);
    const second = await sdk.connect('lobby', 'Ann', ANN);
    expect(second).toBe(await first);
    expect(fake.server.requestsOf('connect')).toHaveLength(1);
    await expect(sdk.connect('lobby', 'Ann', ANN)).rejects.toBeInstanceOf(StateError);
  });

  it('a joined connect fails as the reconnection ends: refused for good, or disconnect()', async () => {
    const sdk = client();
    const disconnects: DisconnectEvent[] = recorded(sdk, Events.DISCONNECT);
    await sdk.connect('lobby', 'Ann', ANN);
    await reconnecting(sdk);
    const joined = sdk.connect('lobby', 'Ann', ANN);
    fake.server.badTokens.add(ANN);
    fake.server.busyTokens.clear();
    await expect(joined).rejects.toBeInstanceOf(TokenError);
    expect(sdk.state).toBe(States.DISCONNECTED);
    expect(disconnects.map((d) => [d.code, d.reconnect])).toEqual([
      [1006, true],
      [4500, false],
    ]);

    fake.server.badTokens.clear();
    await sdk.connect('lobby', 'Ann', ANN);
    await reconnecting(sdk);
    const again = sdk.connect('lobby', 'Ann', ANN);
    await sleep(30);
    await sdk.disconnect();
    await expect(again).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(disconnects.at(-1)).toEqual({ code: 1000, reason: 'client disconnect', reconnect: false });
  });

  it('stops the reconnection and connects anew when called with other arguments', async () => {
    const sdk = client();
    const states: StateChangeEvent[] = recorded(sdk, Events.STATE_CHANGE);
    await sdk.connect('lobby', 'Ann', ANN);
    fake.server.addMessage('held');
    await until(() => sdk.messages.length === 1);
    await reconnecting(sdk);
    const waiting = sdk.sendMessage("meant for Ann's session");
    waiting.catch(() => {});
    await sleep(30);

    const event = await sdk.connect('lobby', 'Bob', fakeToken('u-bob'));
    expect(event.recovered).toBeNull();
    expect(event.user.id).toBe('u-bob');
    expect(fake.server.requestsOf('connect').at(-1)?.recover).toBeUndefined();
    expect(sdk.messages).toEqual([]);
    await expect(waiting).rejects.toBeInstanceOf(ConnectionClosedError);
    const attempts = fake.server.requestsOf('connect').length;
    await sleep(150);
    expect(fake.server.requestsOf('connect')).toHaveLength(attempts); // the old reconnection is over
    expect(sdk.state).toBe(States.CONNECTED);
    expect(sdk.user?.id).toBe('u-bob');
    expect(fake.server.requestsOf('send')).toEqual([]);
    expect(states.slice(-3).map((s) => [s.oldState, s.newState])).toEqual([
      [States.CONNECTED, States.RECONNECTING],
      [States.RECONNECTING, States.CONNECTING],
      [States.CONNECTING, States.CONNECTED],
    ]);
  });

  it('a DISCONNECT handler that calls connect() again ends connected, each time', async () => {
    const sdk = client();
    const errors: PChatError[] = recorded(sdk, Events.ERROR);
    const results: ConnectEvent[] = [];
    sdk.on(Events.DISCONNECT, () => {
      // What code written for the vendor's SDK does.
      sdk
        .connect('lobby', 'Ann', ANN)
        .then((event) => results.push(event))
        .catch(() => {});
    });
    await sdk.connect('lobby', 'Ann', ANN);
    for (let n = 1; n <= 3; n++) {
      fake.server.dropAll();
      await until(() => sdk.state === States.CONNECTED && results.length === n);
    }
    sdk.off(Events.DISCONNECT); // or disconnect() would connect again
    expect(errors).toEqual([]);
    expect(fake.server.requestsOf('connect')).toHaveLength(4);
  });
});

describe('calls made while connecting or reconnecting', () => {
  it('wait for the connection', async () => {
    fake.server.addMessage('older');
    const sdk = client();
    const mia = fakeToken('u-mia', 'moderator');
    await sdk.connect('lobby', 'Mia', mia, { role: 'moderator' });
    await reconnecting(sdk, mia);
    const calls = [
      sdk.sendMessage('while away', { cid: 'c-away' }),
      sdk.loadHistory(),
      sdk.sendReaction('like'),
      sdk.getReactionsStats(),
      sdk.createPoll('Tea?', ['yes', 'no']),
    ] as const;
    const states = calls.map((c) => settled(c as Promise<unknown>));
    await sleep(100);
    expect(states.some((s) => s.done)).toBe(false);
    fake.server.busyTokens.clear();
    const [sent, page, , , poll] = await Promise.all(calls);
    expect(sent.text).toBe('while away');
    expect(page[0]?.text).toBe('older');
    expect(poll.question).toBe('Tea?');
    expect(sdk.state).toBe(States.CONNECTED);
    expect(fake.server.requestsOf('send').map((f) => f.cid)).toEqual(['c-away']);
    await until(() => sdk.messages.map((m) => m.text).join() === 'older,while away');
  });

  it('wait for a first connect under way (the tutorial does not await connect())', async () => {
    fake.server.hook = async (_c, frame) => {
      if (frame.type === 'connect') await sleep(100);
      return false;
    };
    const sdk = client();
    const connecting = sdk.connect('lobby', 'Ann', ANN);
    const sent = await sdk.sendMessage('early');
    await connecting;
    expect(sent.text).toBe('early');
    expect(sdk.messages.map((m) => m.id)).toEqual([sent.id]);
  });

  it('time out, or end with the connection', async () => {
    const sdk = client({ requestTimeout: 200 });
    await expect(sdk.sendReaction('like')).rejects.toBeInstanceOf(StateError); // nothing to wait for
    await sdk.connect('lobby', 'Ann', ANN);
    await reconnecting(sdk);
    await expect(sdk.sendReaction('like')).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(sdk.state).toBe(States.RECONNECTING); // a call's timeout does not stop the SDK
    const waiting = sdk.loadHistory();
    waiting.catch(() => {});
    await sleep(30);
    await sdk.disconnect();
    await expect(waiting).rejects.toBeInstanceOf(ConnectionClosedError);

    fake.server.busyTokens.clear();
    await sdk.connect('lobby', 'Ann', ANN);
    await reconnecting(sdk);
    const never = sdk.sendMessage('never sent');
    never.catch(() => {});
    fake.server.badTokens.add(ANN);
    fake.server.busyTokens.clear();
    await expect(never).rejects.toMatchObject({ name: 'ConnectionClosedError', code: 4500 });
    expect(fake.server.requestsOf('send')).toEqual([]);
  });

  it('a send whose connection drops is sent again, same cid, after a slow reconnect', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', ANN);
    fake.server.hook = (c, frame) => {
      if (frame.type !== 'send') return false;
      fake.server.hook = null;
      fake.server.busyTokens.add(ANN);
      fake.server.addMessage(String(frame.text), c.user ?? undefined, String(frame.cid)); // stored…
      (fake.server as unknown as { sentCids: Map<string, string> }).sentCids.set(
        `u-ann/${String(frame.cid)}`,
        `m${fake.server.seq}`,
      );
      c.ws.terminate(); // …but the reply is lost
      return true;
    };
    const sending = sdk.sendMessage('once');
    await until(() => sdk.state === States.RECONNECTING);
    await sleep(100);
    fake.server.busyTokens.clear();
    const sent = await sending;
    const cids = fake.server.requestsOf('send').map((f) => f.cid);
    expect(cids).toHaveLength(2);
    expect(cids[1]).toBe(cids[0]);
    await until(() => sdk.lastSeq === 1);
    expect(sdk.messages.map((m) => m.id)).toEqual([sent.id]);
  });
});

describe('timestamps', () => {
  for (const { value, ms } of vectors.accepted) {
    it(`accepts ${JSON.stringify(value)}`, () => {
      expect(timestampMs(value)).toBe(ms);
    });
  }
  for (const { value, fields } of vectors.local) {
    it(`reads ${value} as local time`, () => {
      const [y, mo, d, h, mi, s, ms] = fields;
      expect(timestampMs(value)).toBe(new Date(y, mo - 1, d, h, mi, s, ms).getTime());
    });
  }
  for (const value of vectors.rejected) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      expect(() => timestampMs(value)).toThrow(InvalidArgumentError);
    });
  }

  it('takes a Date and a finite number; refuses what JSON cannot hold', () => {
    expect(timestampMs(new Date(1_700_000_000_123))).toBe(1_700_000_000_123);
    expect(timestampMs(1_700_000_000_123.9)).toBe(1_700_000_000_123);
    expect(Object.is(timestampMs(-0.5), 0)).toBe(true);
    for (const bad of [NaN, Infinity, -Infinity, new Date('nope'), undefined, null, () => 1, 10n, Symbol('t')]) {
      expect(() => timestampMs(bad)).toThrow(InvalidArgumentError);
    }
    let error: unknown;
    try {
      timestampMs('yesterday');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PChatError);
    expect((error as Error).name).toBe('InvalidArgumentError');
  });

  it('loadHistory and createPoll refuse a bad timestamp before sending anything', async () => {
    const sdk = client();
    await expect(sdk.loadHistory('yesterday')).rejects.toBeInstanceOf(InvalidArgumentError);
    await sdk.connect('lobby', 'Mia', fakeToken('u-mia', 'moderator'), { role: 'moderator' });
    for (const bad of ['yesterday', NaN, true, { ts: 1 }, new Date('nope')]) {
      await expect(sdk.loadHistory(bad as string)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(sdk.createPoll('Q?', ['a', 'b'], bad as string)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    expect([...fake.server.requestsOf('history'), ...fake.server.requestsOf('poll_create')]).toEqual([]);
  });

  it('each accepted form is sent as before_ts', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', ANN);
    const ms = 1_700_000_000_123;
    for (const form of [ms, String(ms), '2023-11-14T22:13:20.123Z', new Date(ms)]) await sdk.loadHistory(form);
    expect(fake.server.requestsOf('history').map((f) => f.before_ts)).toEqual([ms, ms, ms, ms]);
  });
});

describe('listener removal', () => {
  it('off(event) without a handler removes every handler of the event; removeListener is off', () => {
    const sdk = client();
    const seen: string[] = [];
    const emit = (sdk as unknown as { emit(e: string, p: unknown): void }).emit.bind(sdk);
    const a = (p: unknown) => seen.push(`a${String(p)}`);
    const b = (p: unknown) => seen.push(`b${String(p)}`);
    sdk.on([Events.ONLINE, Events.POLL, Events.MESSAGE], a);
    sdk.on(Events.ONLINE, b);
    sdk.once(Events.ONLINE, b);
    sdk.off(Events.ONLINE); // as removeAllListeners(Events.ONLINE)
    expect(sdk.listenerCount(Events.ONLINE)).toBe(0);
    emit(Events.ONLINE, 1);
    sdk.off([Events.POLL, Events.MESSAGE]);
    emit(Events.POLL, 2);
    emit(Events.MESSAGE, 3);
    expect(seen).toEqual([]);

    sdk.on([Events.ONLINE, Events.POLL], a);
    sdk.on(Events.ONLINE, b);
    sdk.removeListener(Events.ONLINE, a); // every form of off
    emit(Events.ONLINE, 4);
    sdk.removeListener(Events.POLL);
    emit(Events.POLL, 5);
    expect(seen).toEqual(['b4']);
    expect(sdk.removeListener(Events.ONLINE)).toBe(sdk); // chains, as off
  });
});
