/**
 * Timestamps as the application passes them: what `loadHistory` and `createPoll` accept.
 *
 * The vendor documents a timestamp string; the SDK accepts, and turns into milliseconds since
 * the epoch (the wire's unit):
 *
 * - a `Date` (a valid one);
 * - a finite `number` of milliseconds (truncated to an integer);
 * - a `string` of milliseconds (digits only), or an ISO-8601 date or date-time:
 *   `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM[:SS[.fff…]]` with `Z` or an offset
 *   (`+02:00`, `+0200`, `+02`), or without one (local time), as `Date.parse` reads them.
 *
 * Anything else (another string, `NaN`, a boolean, an object, a value beyond
 * ±`Number.MAX_SAFE_INTEGER` ms) throws {@link InvalidArgumentError}: a timestamp is never
 * silently dropped. The Python SDK (`pchat.sdk.timestamps`) reads the same forms the same
 * way; both run the shared vectors `tests/vectors/timestamps.json`. No I/O here.
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/** What the SDK's calls take as a timestamp. */
export type Timestamp = Date | number | string;

const DIGITS = /^[0-9]+$/;
const ISO =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$/;

/** `value` in milliseconds since the epoch; see the module comment for the forms. */
export function timestampMs(value: unknown, name = 'timestamp'): number {
  let ms: number | null = null;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number' && Number.isFinite(value)) ms = Math.trunc(value);
  else if (typeof value === 'string') ms = parse(value.trim());
  if (ms === null || !Number.isSafeInteger(ms)) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value as never);
    throw new InvalidArgumentError(
      `${name}: expected a Date, milliseconds (a number or digits) or an ISO-8601 string, not ${shown}`,
    );
  }
  return ms + 0; // -0 becomes 0
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !leap(year) ? 1 : 0);
}

function leap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function parse(text: string): number | null {
  if (DIGITS.test(text)) return Number(text);
  const match = ISO.exec(text);
  if (match === null) return null;
  const [, y, mo, d, h, mi, s, f, tz] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  const milli = Number((f ?? '0').slice(0, 3).padEnd(3, '0'));
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offset: number | null; // minutes east of UTC; null: local time
  if (h === undefined) offset = 0; // a date alone is UTC
  else if (tz === undefined) offset = null;
  else if (tz === 'Z' || tz === 'z') offset = 0;
  else {
    const digits = tz.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || 0);
    if (hours > 23 || minutes > 59) return null;
    offset = (tz.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  }
  // setFullYear: Date.UTC and new Date() read the years 0–99 as 1900–1999.
  if (offset === null) {
    const local = new Date(2000, 0, 1, hour, minute, second, milli);
    local.setFullYear(year, month - 1, day);
    return local.getTime();
  }
  const utc = new Date(Date.UTC(2000, 0, 1, hour, minute, second, milli));
  utc.setUTCFullYear(year, month - 1, day);
  return utc.getTime() - offset * 60_000;
}
