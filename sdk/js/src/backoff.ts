/**
 * Reconnect delays: full-jitter exponential backoff, and a quick return after a restart.
 *
 * The delay before reconnect attempt `n` (counting from 0) is drawn uniformly from
 * `[0, min(maxDelay, base * 2 ** n))` ("full jitter"): clients that lost their connection at
 * the same moment spread their retries instead of returning together.
 *
 * A server that stops on purpose closes with `4000` (shutdown) or `1012` (restart): it is
 * expected back soon. Its close reason may carry a reconnect hint, `reconnect_after_ms=N`
 * (docs/protocol.md §8), a delay it drew at random for this connection so that its clients
 * return spread out. After such a close the first attempt waits the hint (without one, a
 * short jittered delay); each later attempt within {@link RESTART_WINDOW} of the close waits
 * `random() * min(RESTART_RETRY_MAX, maxDelay)`; after that the exponential backoff goes on.
 *
 * The Python SDK (`pchat.sdk.backoff`, which explains the numbers) uses the same rules and
 * numbers, there in seconds; `tests/vectors/reconnect.json` holds both.
 * @module
 */
import { CloseCode } from './codes.js';

/** Upper bound of the first delay, in ms. */
export const DEFAULT_BACKOFF_BASE = 500;
/** Upper bound of any delay, in ms. */
export const DEFAULT_BACKOFF_MAX = 5_000;
/** Upper bound of the delays after a restart close (but for the hint), in ms. */
export const RESTART_RETRY_MAX = 2_000;
/** How long after a restart close the short delays apply, in ms. */
export const RESTART_WINDOW = 60_000;
/** A longer hint is cut to this, in ms. */
export const MAX_HINT = 60_000;
/** Close codes of a server that stops on purpose and is expected back. */
export const RESTART_CODES: ReadonlySet<number> = new Set([CloseCode.SHUTDOWN, CloseCode.RESTART]);

// 2 ** 64 is far beyond any maxDelay; capping the exponent keeps the numbers finite.
const MAX_EXPONENT = 64;
const HINT = /^[0-9]{1,9}$/;

/** The delay in ms before reconnect attempt `attempt` (0 for the first). Pure but for `random`. */
export function backoffDelay(
  attempt: number,
  base: number = DEFAULT_BACKOFF_BASE,
  maxDelay: number = DEFAULT_BACKOFF_MAX,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError('attempt must be an integer >= 0');
  }
  const ceiling = Math.min(maxDelay, base * 2 ** Math.min(attempt, MAX_EXPONENT));
  return random() * ceiling;
}

/**
 * The `reconnect_after_ms` of a close reason, in ms (at most {@link MAX_HINT}); `null` when
 * there is none. The reason is `;`-separated parts, e.g.
 * `server shutting down; reconnect_after_ms=1250`; the first part that is
 * `reconnect_after_ms=<1 to 9 ASCII digits>` (spaces and tabs around it ignored) is the hint.
 */
export function reconnectHint(reason: string): number | null {
  for (const part of reason.split(';')) {
    const trimmed = part.replace(/^[ \t]+|[ \t]+$/g, '');
    const eq = trimmed.indexOf('=');
    if (eq < 0) continue;
    const value = trimmed.slice(eq + 1);
    if (trimmed.slice(0, eq) === 'reconnect_after_ms' && HINT.test(value)) {
      return Math.min(Number(value), MAX_HINT);
    }
  }
  return null;
}

/**
 * Counts attempts and yields the next delay; {@link Backoff.reset} after success.
 * {@link Backoff.closed} tells it why the connection closed, which selects the restart delays.
 */
export class Backoff {
  attempt = 0;
  private hint: number | null = null;
  private restartUntil: number | null = null;

  constructor(
    readonly base: number = DEFAULT_BACKOFF_BASE,
    readonly maxDelay: number = DEFAULT_BACKOFF_MAX,
    readonly random: () => number = Math.random,
    readonly now: () => number = Date.now,
  ) {}

  /** Whether the short delays after a restart close apply to the next attempt. */
  get restarting(): boolean {
    return this.restartUntil !== null && this.now() < this.restartUntil;
  }

  /**
   * The connection closed with `code` and `reason`; a restart close (with or without a
   * hint) selects the restart delays for {@link RESTART_WINDOW}.
   */
  closed(code: number | null, reason: string): void {
    if (code === null || !RESTART_CODES.has(code)) return;
    this.hint = reconnectHint(reason);
    this.restartUntil = this.now() + RESTART_WINDOW;
  }

  /** The delay before the next attempt; advances the attempt counter. */
  next(): number {
    let delay: number;
    if (this.hint !== null) {
      delay = this.hint;
      this.hint = null;
    } else if (this.restarting) {
      delay = this.random() * Math.min(RESTART_RETRY_MAX, this.maxDelay);
    } else {
      this.restartUntil = null;
      delay = backoffDelay(this.attempt, this.base, this.maxDelay, this.random);
    }
    this.attempt += 1;
    return delay;
  }

  /** Start again from the first attempt (after a successful connect). */
  reset(): void {
    this.attempt = 0;
    this.hint = null;
    this.restartUntil = null;
  }
}
