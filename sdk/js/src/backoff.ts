/**
 * Full-jitter exponential backoff for reconnects.
 *
 * The delay before reconnect attempt `n` (counting from 0) is drawn uniformly from
 * `[0, min(maxDelay, base * 2 ** n))` ("full jitter"): clients that lost their connection at
 * the same moment spread their retries instead of returning together. The Python SDK
 * (`pchat.sdk.backoff`) uses the same formula and defaults (there in seconds, here in ms).
 * @module
 */

/** Upper bound of the first delay, in ms. */
export const DEFAULT_BACKOFF_BASE = 500;
/** Upper bound of any delay, in ms. */
export const DEFAULT_BACKOFF_MAX = 20_000;

// 2 ** 64 is far beyond any maxDelay; capping the exponent keeps the numbers finite.
const MAX_EXPONENT = 64;

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

/** Counts attempts and yields the next full-jitter delay; {@link Backoff.reset} after success. */
export class Backoff {
  attempt = 0;

  constructor(
    readonly base: number = DEFAULT_BACKOFF_BASE,
    readonly maxDelay: number = DEFAULT_BACKOFF_MAX,
    readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; advances the attempt counter. */
  next(): number {
    const delay = backoffDelay(this.attempt, this.base, this.maxDelay, this.random);
    this.attempt += 1;
    return delay;
  }

  /** Start again from the first attempt (after a successful connect). */
  reset(): void {
    this.attempt = 0;
  }
}
