// How long a connection lives against the REAL server (issue 10): by default past its token's
// `exp` — the vendor's SDK has no refresh hook, so ported code has no tokenRefresher — and
// a new connection (a reconnect) still has its token checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { Events, PChatSDK, States, type DisconnectEvent } from '../src/index.js';
import { sleep } from './helpers.js';
import { RealServer } from './realServer.js';

describe('a connection and its token, by default', () => {
  let server: RealServer;
  const clients: PChatSDK[] = [];

  beforeAll(async () => {
    server = await RealServer.start({ PCHAT_TOKEN_TTL: '2', PCHAT_TOKEN_LEEWAY: '0' });
  });

  afterAll(async () => {
    for (const sdk of clients) await sdk.disconnect();
    await server?.stop();
  });

  it('outlives the token it connected with, as vendor-style code expects', async () => {
    const sdk = new PChatSDK({ url: server.url, WebSocket });
    clients.push(sdk);
    const lost: DisconnectEvent[] = [];
    sdk.on(Events.DISCONNECT, (e) => lost.push(e));
    await sdk.connect('life', 'Ann', await server.token('ann'));
    await sleep(3_200); // past exp
    const sent = await sdk.sendMessage('an hour later, as it were');
    expect(sent.text).toBe('an hour later, as it were');
    expect(sdk.state).toBe(States.CONNECTED);
    expect(lost).toEqual([]);

    const late = new PChatSDK({ url: server.url, WebSocket });
    clients.push(late);
    const token = await server.token('bob');
    await sleep(3_200);
    await expect(late.connect('life', 'Bob', token)).rejects.toMatchObject({ code: 203 });
  });
});
