/**
 * Error codes and close codes of the pchat protocol (docs/protocol.md §7, §8).
 *
 * Error codes travel inside `error` frames: the request failed, the connection stays open.
 * - `100–199` request errors: the frame or the action was refused;
 * - `200–299` token errors: the token in `connect` or `refresh` was refused.
 *
 * Close codes are WebSocket close codes; the range tells the client whether to reconnect:
 * - `4000–4499` transient: reconnect with backoff (and recovery);
 * - `4500–4999` terminal: do not reconnect;
 * - standard codes: `1000` normal (terminal), `1001`/`1005`/`1006`/`1011`/`1012`/`1013`/`1014`
 *   transient, `1002`/`1007`/`1008`/`1009` terminal.
 *
 * The same tables live in the Python package (`pchat.protocol.codes`).
 * @module
 */

/** Codes carried by `error` frames. */
export const ErrorCode = {
  INTERNAL: 100,
  MALFORMED_FRAME: 101,
  UNKNOWN_TYPE: 102,
  MISSING_FIELD: 103,
  INVALID_FIELD: 104,
  INVALID_UTF8: 105,
  NOT_CONNECTED: 106,
  ALREADY_CONNECTED: 107,
  RATE_LIMITED: 108,
  MESSAGE_TOO_LONG: 109,
  MESSAGE_EMPTY: 110,
  FORBIDDEN: 111,
  NOT_FOUND: 112,
  ALREADY_VOTED: 113,
  POLL_NOT_OPEN: 114,
  INVALID_ROOM: 115,
  INVALID_USERNAME: 116,
  ROLE_NOT_GRANTED: 117,
  INVALID_REACTION: 118,
  ALREADY_DELETED: 119,
  UNAVAILABLE: 120,
  LIMIT_REACHED: 121,

  TOKEN_MALFORMED: 200,
  TOKEN_BAD_ALGORITHM: 201,
  TOKEN_BAD_SIGNATURE: 202,
  TOKEN_EXPIRED: 203,
  TOKEN_NOT_YET_VALID: 204,
  TOKEN_MISSING_CLAIM: 205,
  TOKEN_UNKNOWN_KEY: 206,
  TOKEN_BAD_ISSUER: 207,
  TOKEN_BAD_CLAIM: 208,
  TOKEN_WRONG_USER: 209,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Errors after which the same request may succeed later without a change by the caller. */
export const TEMPORARY_ERRORS: ReadonlySet<number> = new Set<number>([
  ErrorCode.INTERNAL,
  ErrorCode.RATE_LIMITED,
  ErrorCode.UNAVAILABLE,
]);

/** The lower-case name sent beside an error code, e.g. `rate_limited` for 108. */
export function errorCodeName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) {
    if (value === code) return name.toLowerCase();
  }
  return 'unknown';
}

/** WebSocket close codes used by pchat. */
export const CloseCode = {
  // Standard codes (RFC 6455 §7.4.1 and the IANA registry).
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  RESTART: 1012,
  TRY_AGAIN_LATER: 1013,

  // 4000–4499: transient, reconnect with backoff.
  SHUTDOWN: 4000,
  SLOW_CONSUMER: 4001,
  TOKEN_EXPIRED: 4002,
  PING_TIMEOUT: 4003,
  SERVER_ERROR: 4004,

  // 4500–4999: terminal, do not reconnect.
  BAD_TOKEN: 4500,
  FORBIDDEN: 4501,
  BAD_CONNECT: 4502,
  FLOOD: 4503,
  PROTOCOL_VIOLATION: 4504,
  CONNECT_TIMEOUT: 4505,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

const TRANSIENT_STANDARD: ReadonlySet<number> = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);

/**
 * Whether a client should reconnect after the connection closed with `code`.
 * `null` (no close frame at all: the network dropped) is transient.
 */
export function closeIsReconnectable(code: number | null): boolean {
  if (code === null) return true;
  if (code >= 4000 && code <= 4499) return true;
  if (code >= 4500 && code <= 4999) return false;
  return TRANSIENT_STANDARD.has(code);
}
