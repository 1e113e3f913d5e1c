// Functional: a sampled room against the REAL server (docs/protocol.md §4, Sampling), with
// the thresholds lowered (4 messages/s, rooms of 4 connections). The viewer's SDK holds
// `sampled` and fires SAMPLED, takes the jumps in `seq` for a sample (it stays connected: no
// gap, no reconnect), holds its own messages and its mentions, and sees sampling end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { Events, PChatSDK, States, type Message, type SampledEvent } from '../src/index.js';
import { sleep, until } from './helpers.js';
import { RealServer } from './realServer.js';
import { watchShapes } from './shapes.js';

let server: RealServer;
const clients: PChatSDK[] = [];
const shapes: ReturnType<typeof watchShapes>[] = [];

async function join(room: string, sub: string, role?: string): Promise<PChatSDK> {
  const sdk = new PChatSDK({ url: server.url, WebSocket, backoffBase: 50, backoffMax: 500 });
  clients.push(sdk);
  shapes.push(watchShapes(sdk));
  const name = sub.charAt(0).toUpperCase() + sub.slice(1);
  await sdk.connect(room, name, await server.token(sub, role), role ? { role } : {});
  return sdk;
}

/** A message sent and stored (this room holds nothing for review). */
async function send(sdk: PChatSDK, text: string): Promise<Message> {
  return (await sdk.sendMessage(text)) as Message;
}

beforeAll(async () => {
  server = await RealServer.start({
    PCHAT_VIEWER_MAX_RATE: '4',
    PCHAT_SAMPLE_MIN_MEMBERS: '4',
    PCHAT_RATE_MESSAGES: 'none',
    PCHAT_RATE_FRAMES: 'none',
  });
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  expect(shapes.flatMap((s) => s.check())).toEqual([]);
  await server?.stop();
});

describe('a sampled room against the real server', () => {
  it('a viewer holds its sample, stays connected, and sees sampling end', async () => {
    const room = 'stadium';
    const mod = await join(room, 'mia', 'moderator');
    const ann = await join(room, 'ann');
    const bob = await join(room, 'bob');
    await join(room, 'cat');
    const told: SampledEvent[] = [];
    const lost: unknown[] = [];
    ann.on(Events.SAMPLED, (event) => told.push(event));
    ann.on(Events.DISCONNECT, (event) => lost.push(event));
    expect(ann.sampled).toBeNull();

    const flood = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 1) {
        await send(bob, `m${i}`);
        await sleep(40);
      }
    };
    while (ann.sampled === null) {
      expect(mod.messages.length).toBeLessThan(300);
      await flood(10);
    }
    expect(ann.sampled.every).toBeGreaterThanOrEqual(2);
    await flood(10);
    const mention = await send(bob, 'over here @Ann');
    await flood(10);
    const own = await send(ann, 'mine');
    const fence = await send(mod, 'from the staff');
    await until(() => ann.lastSeq === fence.seq && mod.lastSeq === fence.seq, 10_000);

    const held = new Set(ann.messages.map((m) => m.id));
    for (const id of [mention.id, own.id, fence.id]) expect(held.has(id)).toBe(true);
    expect(held.size).toBeLessThan(mod.messages.length); // a sample: fewer than the staff hold
    expect(mod.messages.map((m) => m.seq)).toEqual(
      Array.from({ length: fence.seq }, (_, i) => i + 1),
    );
    expect(ann.state).toBe(States.CONNECTED);
    expect(lost).toEqual([]); // no gap, so no reconnect
    expect(told.every((event) => event.every > 1)).toBe(true);

    // Quiet again: sampling ends, and every message comes.
    await until(() => ann.sampled === null, 15_000);
    const end = told.at(-1);
    expect(end?.every).toBe(1);
    expect(end?.seq).toBeGreaterThanOrEqual(fence.seq);
    const after = await send(bob, 'everyone again');
    await until(() => ann.lastSeq === after.seq);
    expect(ann.messages.at(-1)?.id).toBe(after.id);
  }, 60_000);
});
