/**
 * The one error hierarchy of the SDK; the same tree as the Python `pchat.protocol.errors`.
 *
 * ```
 * PChatError
 *  ├── RequestError            an error frame: server `code`, `name`, `message`, `temporary`
 *  │    ├── InvalidRequestError  malformed frame, missing/invalid field, too long, …
 *  │    ├── TokenError           2xx: the token was refused
 *  │    ├── ForbiddenError       the role does not allow the action / role not granted
 *  │    ├── NotFoundError        no such message or poll
 *  │    ├── ConflictError        already voted, poll not open, already deleted
 *  │    └── RateLimitedError     slow down; `retryAfterMs` says for how long
 *  ├── ConnectionClosedError   the connection closed (close `code` and `reason`)
 *  ├── StateError              a call made in a state that does not allow it
 *  ├── RequestTimeoutError     no reply in time
 *  ├── TokenRefreshError       the `tokenRefresher` failed or returned no token
 *  ├── HandlerError            an event handler threw (reported through `Events.ERROR`)
 *  └── InvalidArgumentError    an argument refused before sending, e.g. an unreadable timestamp
 * ```
 *
 * Every `error` frame becomes the matching subclass in {@link errorFromWire}, so
 * `e instanceof TokenError` works on promises the SDK rejects.
 * @module
 */
import { ErrorCode, TEMPORARY_ERRORS, errorCodeName } from './codes.js';

/** Root of every error the SDK raises or reports. */
export class PChatError extends Error {
  override name = 'PChatError';
}

/**
 * A request was refused: one `error` frame. `name` is the server's error name
 * (e.g. `token_expired`), `code` its number (e.g. 203).
 */
export class RequestError extends PChatError {
  readonly code: number;
  readonly temporary: boolean;
  readonly retryAfterMs: number | null;
  /** For `banned` (122): when the ban ends, ms since the epoch; `null`: until lifted. */
  readonly until: number | null;

  constructor(
    code: number,
    message = '',
    options: { name?: string; temporary?: boolean; retryAfterMs?: number | null; until?: number | null } = {},
  ) {
    const name = options.name ?? errorCodeName(code);
    super(message || name.replace(/_/g, ' '));
    this.name = name;
    this.code = code;
    this.temporary = options.temporary ?? TEMPORARY_ERRORS.has(code);
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.until = options.until ?? null;
  }
}

/** The frame or one of its fields is invalid. */
export class InvalidRequestError extends RequestError {}
/** The token was refused (2xx codes). */
export class TokenError extends RequestError {}
/** The user's role does not allow this. */
export class ForbiddenError extends RequestError {}
/** No such message or poll in this room. */
export class NotFoundError extends RequestError {}
/** The action conflicts with the current state (already voted, poll finished, …). */
export class ConflictError extends RequestError {}
/** Too many requests; retry after `retryAfterMs`. */
export class RateLimitedError extends RequestError {}

/** The connection closed; `code` is the WebSocket close code (`null`: closed by the SDK). */
export class ConnectionClosedError extends PChatError {
  override name = 'ConnectionClosedError';
  readonly code: number | null;
  readonly reason: string;

  constructor(code: number | null, reason = '') {
    super(reason ? `connection closed (${code}): ${reason}` : `connection closed (${code})`);
    this.code = code;
    this.reason = reason;
  }
}

/** A call was made in a state that does not allow it. */
export class StateError extends PChatError {
  override name = 'StateError';
}

/** No reply arrived in time. */
export class RequestTimeoutError extends PChatError {
  override name = 'RequestTimeoutError';
}

/** The `tokenRefresher` threw, or returned something that is not a token; see `cause`. */
export class TokenRefreshError extends PChatError {
  override name = 'TokenRefreshError';
}

/** An event handler threw; `event` names the event, `cause` is what it threw. */
export class HandlerError extends PChatError {
  override name = 'HandlerError';
  readonly event: string;

  constructor(event: string, error: unknown) {
    super(`${event} handler threw: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
    this.event = event;
  }
}

/**
 * An argument the SDK refused before sending anything, e.g. a timestamp it cannot read
 * (`loadHistory('yesterday')`, `NaN`, an invalid `Date`).
 */
export class InvalidArgumentError extends PChatError {
  override name = 'InvalidArgumentError';
}

type RequestErrorClass = new (
  code: number,
  message?: string,
  options?: { name?: string; temporary?: boolean; retryAfterMs?: number | null; until?: number | null },
) => RequestError;

const CLASS_BY_CODE: ReadonlyMap<number, RequestErrorClass> = new Map<number, RequestErrorClass>([
  [ErrorCode.FORBIDDEN, ForbiddenError],
  [ErrorCode.ROLE_NOT_GRANTED, ForbiddenError],
  [ErrorCode.NOT_FOUND, NotFoundError],
  [ErrorCode.ALREADY_VOTED, ConflictError],
  [ErrorCode.POLL_NOT_OPEN, ConflictError],
  [ErrorCode.ALREADY_DELETED, ConflictError],
  [ErrorCode.ALREADY_CONNECTED, ConflictError],
  [ErrorCode.RATE_LIMITED, RateLimitedError],
  [ErrorCode.BANNED, ForbiddenError],
  [ErrorCode.ROOM_MODE, ForbiddenError],
  [ErrorCode.DUPLICATE_MESSAGE, ConflictError],
  [ErrorCode.INTERNAL, RequestError],
  [ErrorCode.UNAVAILABLE, RequestError],
]);

/** The class of error for an error code. Unknown 1xx codes are invalid requests. */
export function errorClassFor(code: number): RequestErrorClass {
  if (code >= 200 && code < 300) return TokenError;
  const known = CLASS_BY_CODE.get(code);
  if (known) return known;
  return code >= 100 && code < 200 ? InvalidRequestError : RequestError;
}

/** The error object of an `error` frame, as the server sends it. */
export interface WireError {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  temporary?: unknown;
  retry_after_ms?: unknown;
  until?: unknown;
}

/** The {@link RequestError} subclass for the `error` object of an error frame. */
export function errorFromWire(body: WireError | null | undefined): RequestError {
  const code = typeof body?.code === 'number' ? body.code : ErrorCode.INTERNAL;
  const cls = errorClassFor(code);
  return new cls(code, typeof body?.message === 'string' ? body.message : '', {
    name: typeof body?.name === 'string' && body.name ? body.name : errorCodeName(code),
    temporary:
      typeof body?.temporary === 'boolean'
        ? body.temporary
        : code === ErrorCode.BANNED
          ? typeof body?.until === 'number'
          : TEMPORARY_ERRORS.has(code),
    retryAfterMs: typeof body?.retry_after_ms === 'number' ? body.retry_after_ms : null,
    until: typeof body?.until === 'number' ? body.until : null,
  });
}
