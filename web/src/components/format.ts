/**
 * Dates and times as text, for any number a frame may carry: `Intl.DateTimeFormat.format`
 * and `Date.toISOString` throw a RangeError outside ECMAScript's time range (±8.64e15 ms,
 * about ±273,000 years), which once took a whole panel down. These never throw.
 */

/** ECMAScript's time range: ±100,000,000 days from 1970-01-01 (ECMA-262 §21.4.1.1). */
const MAX_TIME_MS = 8.64e15;

/** A Date for `ms`, or null when `ms` is not a time a Date can hold. */
export function toDate(ms: number | null | undefined): Date | null {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) return null;
  return new Date(ms);
}

/** `ms` formatted with `format`; a readable phrase for a time no Date can hold. */
export function formatTime(format: Intl.DateTimeFormat, ms: number | null | undefined): string {
  const date = toDate(ms);
  if (date !== null) return format.format(date);
  if (typeof ms === 'number' && ms > MAX_TIME_MS) return 'in the far future';
  if (typeof ms === 'number' && ms < -MAX_TIME_MS) return 'in the distant past';
  return 'at an unknown time';
}

/** The `dateTime` attribute of a `<time>` (ISO 8601), or undefined when there is none. */
export function isoTime(ms: number | null | undefined): string | undefined {
  return toDate(ms)?.toISOString();
}
