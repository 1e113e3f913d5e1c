// The shared reconnect vectors (tests/vectors/reconnect.json, documented in
// tests/vectors/README.md): the hint of a close reason and the delays after a close, as the
// Python SDK's tests read them (tests/sdk/test_backoff.py).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import {
  Backoff,
  DEFAULT_BACKOFF_BASE,
  DEFAULT_BACKOFF_MAX,
  MAX_HINT,
  RESTART_CODES,
  RESTART_RETRY_MAX,
  RESTART_WINDOW,
  reconnectHint,
} from '../src/index.js';

interface Vectors {
  constants_ms: Record<string, number>;
  restart_codes: number[];
  hints: { reason: string; hint_ms: number | null }[];
  sequences: {
    name: string;
    close: { code: number | null; reason: string };
    steps: { advance_ms: number; delay_ms: number }[];
  }[];
}

const FILE = fileURLToPath(new URL('../../../tests/vectors/reconnect.json', import.meta.url));
const vectors = JSON.parse(readFileSync(FILE, 'utf8')) as Vectors;

describe('reconnect.json vectors', () => {
  it('has the constants of this SDK', () => {
    expect({
      backoff_base: DEFAULT_BACKOFF_BASE,
      backoff_max: DEFAULT_BACKOFF_MAX,
      restart_retry_max: RESTART_RETRY_MAX,
      restart_window: RESTART_WINDOW,
      max_hint: MAX_HINT,
    }).toEqual(vectors.constants_ms);
    expect([...RESTART_CODES].sort()).toEqual(vectors.restart_codes);
  });

  for (const { reason, hint_ms } of vectors.hints) {
    it(`hint of ${JSON.stringify(reason)}`, () => {
      expect(reconnectHint(reason)).toBe(hint_ms);
    });
  }

  for (const { name, close, steps } of vectors.sequences) {
    it(name, () => {
      let now = 1_000_000;
      const backoff = new Backoff(undefined, undefined, () => 0.5, () => now);
      backoff.closed(close.code, close.reason);
      for (const step of steps) {
        now += step.advance_ms;
        expect(backoff.next()).toBe(step.delay_ms);
      }
    });
  }
});

describe('Backoff after a restart close', () => {
  it('reset() forgets the restart', () => {
    const backoff = new Backoff(undefined, undefined, () => 0.5);
    backoff.closed(4000, 'reconnect_after_ms=1250');
    expect(backoff.restarting).toBe(true);
    backoff.reset();
    expect(backoff.restarting).toBe(false);
    expect(backoff.next()).toBe(250);
  });

  it('keeps the restart delays under a smaller maxDelay', () => {
    const backoff = new Backoff(10, 40, () => 0.5);
    backoff.closed(1012, '');
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([20, 20, 20]);
  });
});
