// The connection lifecycle against the REAL server (`pchat serve`, see realServer.ts): code
// written for the vendor's SDK that calls connect() again from its DISCONNECT handler, a send
// made while the SDK reconnects, and each timestamp form loadHistory accepts.
// tests/sdk/test_sdk_functional.py has the Python SDK's twins of these tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import {
  Events,
  InvalidArgumentError,
  PChatSDK,
  States,
  type ConnectEvent,
  type DisconnectEvent,
  type Message,
  type PChatError,
  type PChatSDKOptions,
} from '../src/index.js';
import { sleep, stored, until } from './helpers.js';
import { RealServer } from './realServer.js';

let server: RealServer;
const clients: PChatSDK[] = [];

function client(options: PChatSDKOptions = {}): PChatSDK {
  const sdk = new PChatSDK({ url: server.url, WebSocket, backoffBase: 50, backoffMax: 500, ...options });
  clients.push(sdk);
  return sdk;
}

beforeAll(async () => {
  server = await RealServer.start();
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  await server?.stop();
});

describe('the lifecycle against the real server', () => {
  it("vendor-style connect() from the DISCONNECT handler across a restart: connected, nothing lost", async () => {
    const ann = client();
    const bob = client();
    const token = await server.token('ann');
    const disconnects: DisconnectEvent[] = [];
    const reconnects: ConnectEvent[] = [];
    const errors: PChatError[] = [];
    ann.on(Events.ERROR, (e) => errors.push(e));
    ann.on(Events.DISCONNECT, (event) => {
      disconnects.push(event);
      // What an application written for the vendor's SDK (which does not reconnect) does.
      ann.connect('vendor', 'Ann', token).then((e) => reconnects.push(e), (e: PChatError) => errors.push(e));
    });
    await ann.connect('vendor', 'Ann', token);
    const before = await ann.sendMessage('before');
    server = await server.restart();
    await until(() => ann.state === States.CONNECTED && reconnects.length === 1, 20_000, 'reconnected');
    const mine = await ann.sendMessage('mine, after');
    await bob.connect('vendor', 'Bob', await server.token('bob'));
    const theirs = await bob.sendMessage('theirs, after');
    const expected = [before.id, mine.id, theirs.id];
    await until(() => ann.messages.map((m) => m.id).join() === expected.join(), 5_000, 'all three held');
    await bob.loadHistory();
    expect(bob.messages.map((m) => m.id)).toEqual(expected);
    ann.off(Events.DISCONNECT); // or disconnect() would connect again
    expect(disconnects.map((d) => d.reconnect)).toEqual([true]);
    expect(errors).toEqual([]);
    expect(ann.state).toBe(States.CONNECTED);
  }, 40_000);

  it('a send made while reconnecting is sent after the reconnect', async () => {
    const ann = client({ requestTimeout: 20_000 });
    await ann.connect('away', 'Ann', await server.token('ann'));
    let sending: Promise<Message> | null = null;
    server = await server.restart(async () => {
      await until(() => ann.state === States.RECONNECTING, 5_000, 'reconnecting');
      sending = stored(ann.sendMessage('sent while away'));
      await sleep(300);
    });
    const sent = await (sending as unknown as Promise<Message>);
    expect(ann.state).toBe(States.CONNECTED);
    await until(() => ann.messages.map((m) => m.id).join() === sent.id, 5_000, 'held once');
    const reader = client();
    await reader.connect('away', 'Rob', await server.token('rob'));
    expect((await reader.loadHistory()).map((m) => m.text)).toEqual(['sent while away']);
  }, 40_000);

  it('loadHistory accepts each documented timestamp and refuses anything else', async () => {
    const ann = client();
    await ann.connect('stamps', 'Ann', await server.token('ann'));
    const sent: Message[] = [];
    for (let i = 0; i < 4; i++) {
      sent.push(await stored(ann.sendMessage(`m${i}`)));
      await sleep(5); // one ms timestamp each
    }
    const cut = (sent[2] as Message).ts;
    const reader = client();
    await reader.connect('stamps', 'Rob', await server.token('rob'));
    const iso = new Date(cut).toISOString();
    for (const form of [cut, String(cut), iso, iso.replace('Z', '+00:00'), new Date(cut)]) {
      const page = await reader.loadHistory(form);
      expect(page.map((m) => m.id), String(form)).toEqual([sent[0]?.id, sent[1]?.id]);
    }
    await expect(reader.loadHistory('not a time')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(reader.loadHistory(Number.NaN)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
