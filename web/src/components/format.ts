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

/**
 * A duration as a countdown: `9:59`, `1:02:03`; `ms` is rounded up to whole seconds (so a
 * countdown shows 0:01 until the very end), anything not above 0 is `0:00`.
 */
export function formatCountdown(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 0;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}`
    : `${minutes}:${seconds}`;
}

/** A duration in seconds for people: `10 s`, `10 min`, `2 h`, `1 h 30 min`, `3 days`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 60) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) {
    const h = Math.floor(seconds / 3600);
    const m = Math.round((seconds % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const days = Math.round(seconds / 86400);
  return `${days} ${days === 1 ? 'day' : 'days'}`;
}

/**
 * `text` on one line (runs of white space as one space), cut to at most `max` characters
 * with an ellipsis; never splits a character made of two UTF-16 units.
 */
export function excerpt(text: string, max = 80): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : chars.join('');
}
