// Connection loss against the fake server: reconnect with recovery, refused recovery,
// terminal closes, gaps, the token refresher and the ping timeout.
import { describe, expect, it } from 'vitest';

import {
  ConnectionClosedError,
  Events,
  States,
  TokenRefreshError,
  type ConnectEvent,
  type PChatError,
} from '../src/index.js';
import { fakeToken } from './fakeServer.js';
import { next, record, sleep, until, useFakeServer } from './helpers.js';

const fake = useFakeServer();
const client = fake.client;

describe('reconnect', () => {
  it('recovers the missed events after the fake drops the connection', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    fake.server.addMessage('before');
    await until(() => sdk.lastSeq === 1);
    const log = record(sdk, [Events.STATE_CHANGE, Events.DISCONNECT, Events.CONNECT, Events.MESSAGE]);
    const disconnected = next(sdk, Events.DISCONNECT);
    // Missed while away: the fake's connections are gone before these are stored.
    fake.server.hook = (_c, frame) => {
      if (frame.type === 'connect') {
        fake.server.addMessage('missed one');
        fake.server.addMessage('missed two');
        fake.server.hook = null;
      }
      return false;
    };
    const reconnected = next(sdk, Events.CONNECT);
    fake.server.dropAll();
    expect(await disconnected).toMatchObject({ code: 1006, reconnect: true });
    const event: ConnectEvent = await reconnected;
    expect(event.recovered).toBe(true);
    expect(fake.server.requestsOf('connect')[1]?.recover).toEqual({ epoch: 'e1', seq: 1 });
    await until(() => sdk.lastSeq === 3);
    expect(sdk.messages.map((m) => m.text)).toEqual(['before', 'missed one', 'missed two']);
    expect(log).toEqual([
      'state_change:reconnecting',
      'disconnect',
      'state_change:connected',
      'connect',
      'message:m2',
      'message:m3',
    ]);
    expect(sdk.state).toBe(States.CONNECTED);
  });

  it('keeps trying with backoff while the server is away', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    let refused = 0;
    fake.server.hook = (c, frame) => {
      if (frame.type !== 'connect' || refused >= 3) return false;
      refused += 1;
      c.ws.close(1012, 'restart');
      return true;
    };
    const reconnected = next(sdk, Events.CONNECT);
    fake.server.dropAll();
    expect((await reconnected).recovered).toBe(true);
    expect(refused).toBe(3);
    expect(fake.server.connections).toBe(5);
  });

  it("waits a shutdown close's reconnect hint, and only after a restart code", async () => {
    // Backoff bounds of 10-50 ms: only the hint can make the client wait 400 ms.
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const reasons: string[] = [];
    sdk.on(Events.DISCONNECT, (event) => reasons.push(event.reason));
    const reconnectAfter = async (code: number, reason: string): Promise<number> => {
      const connects = fake.server.requestsOf('connect').length;
      const closed = Date.now();
      fake.server.closeAll(code, reason);
      await until(() => fake.server.requestsOf('connect').length > connects, 3_000, 'a reconnect');
      const waited = Date.now() - closed;
      await until(() => sdk.state === States.CONNECTED, 3_000, 'connected');
      return waited;
    };
    const hinted = await reconnectAfter(4000, 'server shutting down; reconnect_after_ms=400');
    expect(hinted).toBeGreaterThanOrEqual(380);
    expect(hinted).toBeLessThan(2_000);
    expect(reasons).toEqual(['server shutting down; reconnect_after_ms=400']);
    // The same hint with a code that does not mean a restart is ignored.
    expect(await reconnectAfter(4001, 'slow consumer; reconnect_after_ms=400')).toBeLessThan(300);
  });

  it('reloads the latest page when recovery is refused', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    fake.server.addMessage('old');
    await until(() => sdk.lastSeq === 1);
    fake.server.resetEpoch('e2');
    const pages: string[][] = [];
    sdk.on(Events.HISTORY_LOAD, (page) => pages.push(page.map((m) => m.text)));
    const reconnected = next(sdk, Events.CONNECT);
    const history = next(sdk, Events.HISTORY_LOAD);
    fake.server.dropAll();
    fake.server.addMessage('new');
    expect((await reconnected).recovered).toBe(false);
    await history;
    expect(pages).toEqual([['old', 'new']]);
    expect(sdk.epoch).toBe('e2');
    expect(sdk.messages.map((m) => m.text)).toEqual(['old', 'new']);
  });

  it('reconnects with recovery on a gap in the stream', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    fake.server.addMessage('one');
    await until(() => sdk.lastSeq === 1);
    const disconnected = next(sdk, Events.DISCONNECT);
    const reconnected = next(sdk, Events.CONNECT);
    // The fake skips seq 2 on the wire for this client; the stream has it.
    fake.server.seq += 1;
    const lost = { type: 'message', seq: 2, message: { id: 'm2', seq: 2, ts: 2, user: { id: 'u-bob', username: 'Bob', role: 'viewer' }, text: 'lost', deleted: false } };
    fake.server.stream.push(lost);
    fake.server.messages.set('m2', lost.message);
    fake.server.addMessage('three');
    expect(await disconnected).toMatchObject({ code: null, reason: 'gap in the stream', reconnect: true });
    expect((await reconnected).recovered).toBe(true);
    await until(() => sdk.lastSeq === 3);
    expect(sdk.messages.map((m) => m.text)).toEqual(['one', 'lost', 'three']);
  });

  it('does not retry a terminal close', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const errors: PChatError[] = [];
    sdk.on(Events.ERROR, (e) => errors.push(e));
    const log = record(sdk, [Events.STATE_CHANGE, Events.DISCONNECT]);
    const disconnected = next(sdk, Events.DISCONNECT);
    fake.server.closeAll(4503, 'flood');
    expect(await disconnected).toEqual({ code: 4503, reason: 'flood', reconnect: false });
    expect(sdk.state).toBe(States.DISCONNECTED);
    expect(log).toEqual(['state_change:disconnected', 'disconnect']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConnectionClosedError);
    expect(errors[0]).toMatchObject({ code: 4503 });
    await sleep(100);
    expect(fake.server.connections).toBe(1);
  });

  it('stops when a reconnect is refused for good', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const errors: PChatError[] = [];
    sdk.on(Events.ERROR, (e) => errors.push(e));
    fake.server.hook = (c, frame) => {
      if (frame.type !== 'connect') return false;
      fake.server.error(c, frame.id, 202, 'token_bad_signature');
      c.ws.close(4500, 'bad token');
      return true;
    };
    const final = next(sdk, Events.DISCONNECT, (d) => !d.reconnect);
    fake.server.dropAll();
    expect(await final).toMatchObject({ code: 4500, reconnect: false });
    expect(sdk.state).toBe(States.DISCONNECTED);
    expect(errors.map((e) => e.name)).toEqual(['token_bad_signature']);
    await sleep(100);
    expect(fake.server.connections).toBe(2);
  });

  it('disconnect() stops a reconnect under way', async () => {
    const sdk = client({ backoffBase: 200, backoffMax: 200, random: () => 1 });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const reconnecting = next(sdk, Events.STATE_CHANGE, (s) => s.newState === States.RECONNECTING);
    fake.server.dropAll();
    await reconnecting;
    await sdk.disconnect();
    expect(sdk.state).toBe(States.DISCONNECTED);
    await sleep(300);
    expect(fake.server.connections).toBe(1);
    expect(sdk.state).toBe(States.DISCONNECTED);
  });
});

describe('token refresher', () => {
  it('refreshes the token before it expires', async () => {
    fake.server.tokenExp = Math.floor(Date.now() / 1000) + 1; // expires within a second
    let calls = 0;
    const sdk = client({
      tokenRefresher: async () => {
        calls += 1;
        return fakeToken('u-ann') + `:r${calls}`;
      },
    });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    fake.server.tokenExp = Math.floor(Date.now() / 1000) + 3600;
    await until(() => fake.server.requestsOf('refresh').length === 1, 3_000, 'a refresh request');
    expect(fake.server.requestsOf('refresh')[0]?.token).toBe('tok:u-ann:viewer:r1');
    expect(calls).toBe(1);
    expect(sdk.state).toBe(States.CONNECTED);
  });

  it('gets a new token after close 4002 and reconnects with it', async () => {
    const sdk = client({ tokenRefresher: () => fakeToken('u-ann', 'viewer') + ':new' });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const reconnected = next(sdk, Events.CONNECT);
    fake.server.closeAll(4002, 'token expired');
    expect((await reconnected).recovered).toBe(true);
    expect(fake.server.requestsOf('connect')[1]?.token).toBe('tok:u-ann:viewer:new');
  });

  it('4002 without a refresher is final', async () => {
    const sdk = client();
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const disconnected = next(sdk, Events.DISCONNECT);
    fake.server.closeAll(4002, 'token expired');
    expect(await disconnected).toMatchObject({ code: 4002, reconnect: false });
    expect(sdk.state).toBe(States.DISCONNECTED);
  });

  it('retries a first connect refused as expired once with a new token', async () => {
    const sdk = client({ tokenRefresher: () => fakeToken('u-ann') });
    const event = await sdk.connect('lobby', 'Ann', 'expired-token');
    expect(event.user.id).toBe('u-ann');
    expect(fake.server.requestsOf('connect').map((f) => f.token)).toEqual(['expired-token', 'tok:u-ann:viewer']);
  });

  it('reports a refresher that fails on reconnect and keeps trying', async () => {
    let fail = true;
    const sdk = client({
      tokenRefresher: () => {
        if (fail) {
          fail = false;
          throw new Error('auth server down');
        }
        return fakeToken('u-ann');
      },
    });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    const error = next(sdk, Events.ERROR);
    const reconnected = next(sdk, Events.CONNECT);
    fake.server.closeAll(4002, 'token expired');
    expect(await error).toBeInstanceOf(TokenRefreshError);
    expect((await reconnected).recovered).toBe(true);
  });
});

describe('ping', () => {
  it('pings and reconnects when no reply comes in time', async () => {
    const sdk = client({ pingInterval: 30, requestTimeout: 150 });
    await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    await until(() => fake.server.requestsOf('ping').length >= 2, 2_000, 'two pings');
    expect(sdk.state).toBe(States.CONNECTED);
    fake.server.answerPings = false;
    const disconnected = next(sdk, Events.DISCONNECT);
    const reconnected = next(sdk, Events.CONNECT);
    expect(await disconnected).toEqual({ code: 4003, reason: 'no reply to ping', reconnect: true });
    fake.server.answerPings = true;
    expect((await reconnected).recovered).toBe(true);
    expect(fake.server.connections).toBe(2);
  });
});
