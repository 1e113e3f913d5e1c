/**
 * pchatsdk: the browser SDK of pchat. The public names, and nothing else.
 *
 * ```ts
 * import { PChatSDK, Events, States } from 'pchatsdk';
 * ```
 * @module
 */
export {
  Backoff,
  DEFAULT_BACKOFF_BASE,
  DEFAULT_BACKOFF_MAX,
  MAX_HINT,
  RESTART_CODES,
  RESTART_RETRY_MAX,
  RESTART_WINDOW,
  backoffDelay,
  reconnectHint,
} from './backoff.js';
export { PChatSDK } from './client.js';
export type { SendMessageOptions } from './client.js';
export { wsUrl } from './lifecycle.js';
export type { ConnectOptions, PChatSDKOptions, TokenRefresher } from './lifecycle.js';
export type { BanOptions, PurgeOptions, RoomModeChanges } from './moderation.js';
export { isHeld } from './reviews.js';
export { CloseCode, ErrorCode, TEMPORARY_ERRORS, closeIsReconnectable } from './codes.js';
export type { WebSocketConstructor, WebSocketLike } from './connection.js';
export type { EventSpec, Handler } from './emitter.js';
export {
  ConflictError,
  ConnectionClosedError,
  ForbiddenError,
  HandlerError,
  InvalidArgumentError,
  InvalidRequestError,
  NotFoundError,
  PChatError,
  RateLimitedError,
  RequestError,
  RequestTimeoutError,
  StateError,
  TokenError,
  TokenRefreshError,
  errorFromWire,
} from './errors.js';
export { Outcome, RoomState } from './roomState.js';
export type { Timestamp } from './timestamps.js';
export type { RoomEvent } from './roomState.js';
export { Events, States } from './types.js';
export type {
  Ban,
  BannedEvent,
  ConnectEvent,
  DisconnectEvent,
  EventMap,
  Limits,
  Message,
  ModAction,
  FilterAction,
  FilterEntry,
  Held,
  HoldReason,
  MessageRejectedEvent,
  ModLogPage,
  Pin,
  Poll,
  PollOption,
  PollStatus,
  PurgeEvent,
  PurgeResult,
  ReactionEvent,
  Report,
  ReportAction,
  ReportRemovedEvent,
  ReviewRemovedEvent,
  RoomMode,
  RoomSettings,
  SampledEvent,
  StateChangeEvent,
  User,
} from './types.js';
