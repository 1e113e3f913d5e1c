// Small async helpers shared by the client tests.
import { afterEach, beforeEach } from 'vitest';
import { WebSocket } from 'ws';

import { PChatSDK, isHeld, type PChatSDKOptions, type WebSocketConstructor } from '../src/index.js';
import type { EventMap, Held, Message } from '../src/types.js';
import { FakeServer } from './fakeServer.js';

/** Every wait in the tests is bounded by this (ms). */
export const TIMEOUT = 5_000;

/** Resolve with the payload of the next `event` for which `test` holds. */
export function next<E extends keyof EventMap>(
  sdk: PChatSDK,
  event: E,
  test: (payload: EventMap[E]) => boolean = () => true,
  timeout = TIMEOUT,
): Promise<EventMap[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sdk.off(event, handler);
      reject(new Error(`no ${event} event within ${timeout} ms`));
    }, timeout);
    const handler = (payload: EventMap[E]) => {
      if (!test(payload)) return;
      clearTimeout(timer);
      sdk.off(event, handler);
      resolve(payload);
    };
    sdk.on(event, handler);
  });
}

/** The message a `sendMessage` stored; fails if the room held it instead. */
export async function stored(sending: Promise<Message | Held>): Promise<Message> {
  const sent = await sending;
  if (isHeld(sent)) throw new Error(`message ${sent.id} was held (${sent.reason}), not stored`);
  return sent;
}

/** Wait until `condition()` is true (polling), or fail after `timeout` ms. */
export async function until(condition: () => boolean, timeout = TIMEOUT, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeout) throw new Error(`${what} not met within ${timeout} ms`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Record every event fired by `sdk` as `name` or `name:detail`. */
export function record(sdk: PChatSDK, events: (keyof EventMap)[]): string[] {
  const log: string[] = [];
  for (const event of events) {
    sdk.on(event, (payload: unknown) => {
      const p = payload as { id?: string; newState?: string } | number;
      if (typeof p === 'object' && p && 'id' in p) log.push(`${event}:${p.id}`);
      else if (typeof p === 'object' && p && 'newState' in p) log.push(`${event}:${p.newState}`);
      else if (typeof p === 'number') log.push(`${event}:${p}`);
      else log.push(event);
    });
  }
  return log;
}

/** A fresh fake server per test, and clients of it that are disconnected after the test. */
export interface FakeContext {
  server: FakeServer;
  client(options?: PChatSDKOptions): PChatSDK;
}

export function useFakeServer(): FakeContext {
  const clients: PChatSDK[] = [];
  const ctx: FakeContext = {
    server: undefined as unknown as FakeServer, // set before each test
    client(options: PChatSDKOptions = {}): PChatSDK {
      const sdk = new PChatSDK({ url: ctx.server.url, WebSocket, backoffBase: 10, backoffMax: 50, ...options });
      clients.push(sdk);
      return sdk;
    },
  };
  beforeEach(async () => {
    ctx.server = await FakeServer.start();
  });
  afterEach(async () => {
    for (const sdk of clients.splice(0)) await sdk.disconnect();
    await ctx.server.close();
  });
  return ctx;
}

/**
 * A WebSocket whose network can be cut: `cut()` drops the open sockets (no close frame) and,
 * while `down`, every new socket fails to connect.
 */
export class Gate {
  down = false;
  private readonly sockets: WebSocket[] = [];
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const gate = this;
    this.WebSocket = class extends WebSocket {
      constructor(url: string) {
        super(gate.down ? 'ws://127.0.0.1:9/' : url); // nothing listens on port 9
        gate.sockets.push(this);
      }
    };
  }

  cut(): void {
    this.down = true;
    for (const socket of this.sockets.splice(0)) socket.terminate();
  }
}
