// No-network unit tests: backoff, error mapping, close codes, the public names.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';

import * as pchatsdk from '../src/index.js';
import {
  Backoff,
  ConflictError,
  DEFAULT_BACKOFF_BASE,
  DEFAULT_BACKOFF_MAX,
  Events,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  PChatError,
  RateLimitedError,
  RequestError,
  States,
  TokenError,
  backoffDelay,
  closeIsReconnectable,
  errorFromWire,
  wsUrl,
  type WebSocketConstructor,
} from '../src/index.js';

describe('backoffDelay', () => {
  it('stays within [0, min(max, base * 2 ** attempt)]', () => {
    for (let attempt = 0; attempt < 80; attempt++) {
      const ceiling = Math.min(20_000, 500 * 2 ** attempt);
      expect(backoffDelay(attempt, 500, 20_000, () => 0)).toBe(0);
      expect(backoffDelay(attempt, 500, 20_000, () => 0.999999)).toBeLessThan(ceiling);
      expect(backoffDelay(attempt, 500, 20_000, () => 0.999999)).toBeGreaterThan(ceiling * 0.99);
      const d = backoffDelay(attempt);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_BASE * 2 ** attempt));
    }
    expect(backoffDelay(3, 100, 1_000, () => 0.5)).toBe(400);
    expect(backoffDelay(10, 100, 1_000, () => 0.5)).toBe(500);
    expect(backoffDelay(1e6, 100, 1_000, () => 0.5)).toBe(500);
  });

  it('refuses a negative or fractional attempt', () => {
    expect(() => backoffDelay(-1)).toThrow(RangeError);
    expect(() => backoffDelay(1.5)).toThrow(RangeError);
  });

  it('Backoff counts attempts and resets', () => {
    const b = new Backoff(100, 1_000, () => 1);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1_000]);
    b.reset();
    expect(b.next()).toBe(100);
  });
});

describe('errors', () => {
  it('map codes to classes', () => {
    const cases: [number, new (...a: never[]) => RequestError][] = [
      [101, InvalidRequestError], [104, InvalidRequestError], [109, InvalidRequestError],
      [107, ConflictError], [108, RateLimitedError], [111, ForbiddenError], [112, NotFoundError],
      [113, ConflictError], [114, ConflictError], [117, ForbiddenError], [119, ConflictError],
      [100, RequestError], [120, RequestError], [200, TokenError], [203, TokenError], [209, TokenError],
    ];
    for (const [code, cls] of cases) {
      const error = errorFromWire({ code, name: 'x', message: 'm' });
      expect(error).toBeInstanceOf(cls);
      expect(error).toBeInstanceOf(PChatError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
    }
    expect(errorFromWire({ code: 100 }).constructor).toBe(RequestError);
  });

  it('carry code, name, message, temporary and retryAfterMs', () => {
    const e = errorFromWire({ code: 108, name: 'rate_limited', message: 'slow down', temporary: true, retry_after_ms: 400 });
    expect(e).toMatchObject({ code: 108, name: 'rate_limited', message: 'slow down', temporary: true, retryAfterMs: 400 });
    const f = errorFromWire({ code: 203 });
    expect(f).toMatchObject({ code: 203, name: 'token_expired', message: 'token expired', temporary: false, retryAfterMs: null });
    expect(errorFromWire({ code: 120 }).temporary).toBe(true);
    expect(errorFromWire(null)).toMatchObject({ code: 100, name: 'internal' });
  });
});

describe('close codes', () => {
  it('tell transient from terminal', () => {
    for (const code of [null, 1001, 1005, 1006, 1011, 1012, 1013, 4000, 4001, 4002, 4003, 4004, 4499]) {
      expect(closeIsReconnectable(code)).toBe(true);
    }
    for (const code of [1000, 1007, 1008, 1009, 4500, 4501, 4502, 4503, 4504, 4505, 4999]) {
      expect(closeIsReconnectable(code)).toBe(false);
    }
  });
});

describe('the pure modules', () => {
  // The room state and everything it builds on do no I/O: they import only each other.
  const PURE = ['roomState', 'models', 'types', 'errors', 'codes', 'backoff', 'timestamps'];
  for (const name of PURE) {
    it(`${name}.ts imports no I/O module`, () => {
      const source = readFileSync(new URL(`../src/${name}.ts`, import.meta.url), 'utf8');
      const imports = [...source.matchAll(/^import[^;]*?from '([^']+)';/gms)].map((m) => m[1]);
      for (const spec of imports) {
        expect(PURE.map((p) => `./${p}.js`)).toContain(spec);
      }
      expect(source).not.toMatch(/new WebSocket|setTimeout\(|setInterval\(|fetch\(|globalThis/);
    });
  }
});

describe('the public surface', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(pchatsdk).sort()).toEqual(
      [
        'Backoff', 'CloseCode', 'ConflictError', 'ConnectionClosedError', 'DEFAULT_BACKOFF_BASE',
        'DEFAULT_BACKOFF_MAX', 'ErrorCode', 'Events', 'ForbiddenError', 'HandlerError',
        'InvalidArgumentError', 'InvalidRequestError', 'MAX_HINT', 'NotFoundError', 'Outcome', 'PChatError', 'PChatSDK',
        'RESTART_CODES', 'RESTART_RETRY_MAX', 'RESTART_WINDOW', 'RateLimitedError',
        'RequestError', 'RequestTimeoutError', 'RoomState', 'StateError', 'States',
        'TEMPORARY_ERRORS', 'TokenError', 'TokenRefreshError', 'backoffDelay',
        'closeIsReconnectable', 'errorFromWire', 'isHeld', 'reconnectHint', 'wsUrl',
      ].sort(),
    );
  });

  it('has string-valued States and Events', () => {
    expect(States).toEqual({ CONNECTING: 'connecting', CONNECTED: 'connected', RECONNECTING: 'reconnecting', DISCONNECTED: 'disconnected' });
    expect(Events).toEqual({
      ERROR: 'error', CONNECT: 'connect', DISCONNECT: 'disconnect', MESSAGE: 'message',
      MESSAGE_DELETE: 'message_delete', REACTION: 'reaction', REACTIONS_STATS: 'reactions_stats',
      POLL: 'poll', HISTORY_LOAD: 'history_load', STATE_CHANGE: 'state_change', ONLINE: 'online',
      ROOM_SETTINGS: 'room_settings', PIN: 'pin', BANNED: 'banned', UNBANNED: 'unbanned',
      PURGE: 'purge', MENTION: 'mention', MESSAGE_HIDDEN: 'message_hidden',
      MESSAGE_RESTORED: 'message_restored', MUTED: 'muted', UNMUTED: 'unmuted',
      REPORT_ADDED: 'report_added', REPORT_REMOVED: 'report_removed',
      REVIEW_ADDED: 'review_added', REVIEW_REMOVED: 'review_removed',
      MESSAGE_REJECTED: 'message_rejected', SAMPLED: 'sampled',
    });
  });

  it('accepts the ws package and the DOM WebSocket constructors (type check)', () => {
    const fromWs: WebSocketConstructor = NodeWebSocket;
    const fromDom: WebSocketConstructor | undefined = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    expect(typeof fromWs).toBe('function');
    expect(fromDom === undefined || typeof fromDom === 'function').toBe(true);
  });

  it('builds WebSocket URLs', () => {
    expect(wsUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/public-chat/ws');
    expect(wsUrl('https://chat.example.com/')).toBe('wss://chat.example.com/public-chat/ws');
    expect(wsUrl('wss://x/public-chat/ws')).toBe('wss://x/public-chat/ws');
  });

  it('has no runtime dependencies', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.name).toBe('pchatsdk');
  });
});
