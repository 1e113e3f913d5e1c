/**
 * The SDK's states and events, the objects of the protocol and the payload of each event.
 *
 * ```
 * DISCONNECTED --connect()--> CONNECTING --ok--> CONNECTED
 *      ^                          |                  |
 *      +------- failed -----------+                  | connection lost (transient)
 *      |                                             v
 *      +---- terminal close / disconnect() ---- RECONNECTING --ok--> CONNECTED
 * ```
 *
 * `connect()` while CONNECTING or RECONNECTING with the same arguments joins the attempt
 * under way; calls made meanwhile wait for it (README: "Connection lifecycle").
 *
 * Every field the SDK hands the application is camelCase: objects (User, Message, Poll),
 * event payloads and options alike. The wire's snake_case (docs/protocol.md: `deleted_by`,
 * `total_votes`, `my_vote`, …) is converted once, where frames are parsed (`models.ts`).
 * @module
 */
import type { PChatError } from './errors.js';

/** The connection states of a client. */
export const States = {
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  DISCONNECTED: 'disconnected',
} as const;
export type States = (typeof States)[keyof typeof States];

/** The events a client fires; {@link EventMap} gives each one's payload. */
export const Events = {
  ERROR: 'error',
  CONNECT: 'connect',
  DISCONNECT: 'disconnect',
  MESSAGE: 'message',
  MESSAGE_DELETE: 'message_delete',
  REACTION: 'reaction',
  REACTIONS_STATS: 'reactions_stats',
  POLL: 'poll',
  HISTORY_LOAD: 'history_load',
  STATE_CHANGE: 'state_change',
  ONLINE: 'online',
  ROOM_SETTINGS: 'room_settings',
  PIN: 'pin',
  BANNED: 'banned',
  UNBANNED: 'unbanned',
  PURGE: 'purge',
  MENTION: 'mention',
  MESSAGE_HIDDEN: 'message_hidden',
  MESSAGE_RESTORED: 'message_restored',
  MUTED: 'muted',
  UNMUTED: 'unmuted',
  REPORT_ADDED: 'report_added',
  REPORT_REMOVED: 'report_removed',
  REVIEW_ADDED: 'review_added',
  REVIEW_REMOVED: 'review_removed',
  MESSAGE_REJECTED: 'message_rejected',
  SAMPLED: 'sampled',
} as const;
export type Events = (typeof Events)[keyof typeof Events];

/** A user as seen in a room: `id` is the token's `sub`, `role` the role claimed. */
export interface User {
  readonly id: string;
  readonly username: string;
  readonly role: string;
}

/**
 * A chat message. `seq` is its position in the room's stream, `ts` the server time in ms.
 * A deleted message has `text: ''`, `deleted: true`, `deletedBy` and `deletedAt` (wire
 * `deleted_by`, `deleted_at`). `replyTo` (wire `reply_to`) is the id of the message this one
 * answers; `mentions` the ids of the users its text names as `@username` (the server finds
 * them). `cid`, `deletedBy`, `deletedAt`, `replyTo` and `mentions` are present only when set
 * (`mentions` when not empty). `shadow` and `hidden` are `true` only in what moderators and
 * admins receive: a shadow-banned user's message (that only its author and the staff see),
 * and a message hidden by reports until a moderator decides (docs/moderation.md).
 */
export interface Message {
  readonly id: string;
  readonly seq: number;
  readonly ts: number;
  readonly user: User;
  readonly text: string;
  readonly deleted: boolean;
  readonly cid?: string;
  readonly deletedBy?: User | null;
  readonly deletedAt?: number | null;
  readonly replyTo?: string;
  readonly mentions?: readonly string[];
  readonly shadow: boolean;
  readonly hidden: boolean;
}

/** One option of a poll with its tally. */
export interface PollOption {
  readonly text: string;
  readonly votes: number;
}

/** Poll statuses. */
export type PollStatus = 'scheduled' | 'open' | 'finished';

/**
 * A poll. Times are in ms or `null`. `myVote` (wire `my_vote`) is the index this user voted
 * for, present once known; the SDK keeps it across pushes (which go to everyone and carry
 * none).
 */
export interface Poll {
  readonly id: string;
  readonly question: string;
  readonly options: readonly PollOption[];
  // `string & {}` keeps the three literals for completion while allowing future statuses.
  readonly status: PollStatus | (string & {});
  readonly totalVotes: number;
  readonly createdBy: User;
  readonly createdAt: number;
  readonly publishAt: number | null;
  readonly publishedAt: number | null;
  readonly finishedAt: number | null;
  readonly myVote?: number | null;
}

/**
 * Payload of `Events.CONNECT`, fired on every successful connect and reconnect.
 * `recovered` is `null` on the first connect, `true` when a reconnect recovered every
 * missed event, `false` when it could not (the messages were reloaded from history).
 */
export interface ConnectEvent {
  readonly user: User;
  readonly roomId: string;
  readonly epoch: string;
  readonly seq: number;
  readonly online: number;
  readonly recovered: boolean | null;
}

/**
 * Payload of `Events.DISCONNECT`. `code` is the WebSocket close code (`4003` after a ping
 * with no reply, `null` after a gap in the stream); `reconnect` says whether the SDK is
 * reconnecting by itself (`false`: it will not; `connect()` comes back). One with `true` is
 * followed by one with `false` if the reconnection ends without success.
 */
export interface DisconnectEvent {
  readonly code: number | null;
  readonly reason: string;
  readonly reconnect: boolean;
}

/** Payload of `Events.REACTION`: a reaction someone sent; `ts` is the server time in ms. */
export interface ReactionEvent {
  readonly reaction: string;
  readonly user: User;
  readonly ts: number;
}

/** Payload of `Events.STATE_CHANGE`. */
export interface StateChangeEvent {
  readonly newState: States;
  readonly oldState: States;
}

/** Who may write in a room: everyone, moderators only, or viewers react but do not send. */
export type RoomMode = 'open' | 'moderators_only' | 'reactions_only';

/**
 * A room's modes, set by its moderators (wire `slow_mode`, `unique_chat`,
 * `max_message_chars`): `slowMode` in **seconds** a viewer waits between two messages (0:
 * off), `uniqueChat` refuses a viewer's repeated message, `maxMessageChars` the room's length
 * limit (0: the server's), `mode` who may write, `hold` holds every viewer message for a
 * moderator's review, and `delay` (**seconds**, 0–60; 0: off) is the chat delay: viewers'
 * messages reach other viewers that late, while moderators see them at once in the review
 * queue. docs/moderation.md.
 */
export interface RoomSettings {
  readonly slowMode: number;
  readonly uniqueChat: boolean;
  readonly maxMessageChars: number;
  // `string & {}` keeps the literals for completion while allowing future modes.
  readonly mode: RoomMode | (string & {});
  readonly hold: boolean;
  readonly delay: number;
}

/** The room's pin: a message, or a moderator's announcement (`message` `null`, `text` set). */
export interface Pin {
  readonly by: User;
  readonly ts: number;
  readonly message: Message | null;
  readonly text: string | null;
}

/**
 * A ban or timeout in a room: `until` ends a timeout (ms since the epoch; `null`: until
 * lifted); `shadow`: a shadow ban (the user writes as before, but their new messages reach
 * only their own connections and the staff, and they see no difference). The client's own ban is the one the `banned` push carries; from a
 * server whose push has no `ban`, it has an unknown `by` (empty id) and `createdAt` 0.
 */
export interface Ban {
  readonly userId: string;
  readonly by: User;
  readonly createdAt: number;
  readonly until: number | null;
  readonly reason: string;
  readonly shadow: boolean;
}

/**
 * One entry of a room's moderation log. `action` is `ban`, `timeout`, `shadow_ban`, `unban`,
 * `room_mode`, `pin`, `unpin`, `purge`, `filter_add`, `filter_remove`, `review_approve`,
 * `review_reject`, `report_dismiss` or `report_delete`; `details` its particulars with camelCase keys (`until`, `kick`, `text`,
 * or the changed settings: `slowMode`, …); `id` grows with each entry of the room.
 */
export interface ModAction {
  readonly id: number;
  readonly action: string;
  readonly by: User;
  readonly ts: number;
  readonly targetUserId: string | null;
  readonly messageId: string | null;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Why a message waits outside the stream (see {@link Held}). */
export type HoldReason = 'filter' | 'hold' | 'delay';

/**
 * A message not in the stream yet (wire `release_at`, `reply_to`): held by a blocklist entry
 * with action `hold` (`reason` `filter`), by the room's hold mode (`hold`), or by the chat
 * delay (`delay`, released by itself at `releaseAt`, ms; otherwise `null`: it waits for a
 * moderator). Approved or released, it enters the stream as a message with the same `id`.
 * `cid`, `replyTo` and `mentions` are present only when set, as in a {@link Message}.
 */
export interface Held {
  readonly id: string;
  readonly ts: number;
  readonly user: User;
  readonly text: string;
  readonly cid?: string;
  readonly replyTo?: string;
  readonly mentions?: readonly string[];
  // `string & {}` keeps the literals for completion while allowing future reasons.
  readonly reason: HoldReason | (string & {});
  readonly releaseAt: number | null;
}

/**
 * The open reports of one message (moderators; wire `last_ts`): how many users reported it,
 * their reasons (distinct, newest first, at most 10), when last (ms), and whether it is
 * hidden now (as its `message.hidden`).
 */
export interface Report {
  readonly message: Message;
  readonly count: number;
  readonly reasons: readonly string[];
  readonly lastTs: number;
  readonly hidden: boolean;
}

/** How a moderator decides a message's reports (see {@link PChatSDK.resolveReport}). */
export type ReportAction = 'dismiss' | 'delete';

/**
 * Payload of `Events.REPORT_REMOVED` (moderators): `by` decided the open reports of
 * `messageId`. `outcome` is `dismissed` (a hidden message is shown again: MESSAGE_RESTORED)
 * or `deleted` (MESSAGE_DELETE).
 */
export interface ReportRemovedEvent {
  readonly messageId: string;
  readonly outcome: 'dismissed' | 'deleted' | (string & {});
  readonly by: User;
}

/**
 * Payload of `Events.REVIEW_REMOVED` (moderators): the held message `id` left the review
 * queue. `outcome` is `approved` or `rejected` (`by` the moderator), or `released` (the chat
 * delay ended; `by` `null`). Approved or released, it enters the stream with that id.
 */
export interface ReviewRemovedEvent {
  readonly id: string;
  readonly outcome: 'approved' | 'rejected' | 'released' | (string & {});
  readonly by: User | null;
}

/**
 * Payload of `Events.MESSAGE_REJECTED`: a moderator rejected this user's held message `id`
 * (the {@link Held} `sendMessage` resolved with) with `reason` (`''` if none); it never
 * enters the stream.
 */
export interface MessageRejectedEvent {
  readonly id: string;
  readonly reason: string;
}

/**
 * Payload of `Events.SAMPLED`, and the client's `sampled` while it lasts: the room posts more
 * messages per second than a person reads, and each viewer gets one of every `every` (and
 * always their own, those that mention them and the staff's; moderators and admins get all).
 * `rate` is the room's rate (messages/s) when it was measured. `every` 1: sampling ended;
 * positions up to `seq` may have been left out (`null`: not told). Recovery and history still
 * hold every message (docs/protocol.md §4).
 */
export interface SampledEvent {
  readonly every: number;
  readonly rate: number | null;
  readonly seq: number | null;
}

/** What {@link PChatSDK.getModLog} resolves with: newest first, and whether older exist. */
export interface ModLogPage {
  readonly entries: ModAction[];
  readonly hasMore: boolean;
}

/**
 * Payload of `Events.BANNED`: this user may read the room but not write, until `until` (ms
 * since the epoch; `null`: until a moderator lifts it).
 */
export interface BannedEvent {
  readonly until: number | null;
  readonly reason: string;
}

/**
 * Payload of `Events.PURGE`: every message of `userId` sent at `since` (ms since the epoch;
 * 0: ever) or later was deleted by `deletedBy` at `ts`. `count` is how many messages the
 * server deleted, held here or not; each held one was marked deleted first and fired
 * MESSAGE_DELETE. docs/moderation.md (Purge).
 */
export interface PurgeEvent {
  readonly userId: string;
  readonly since: number;
  readonly count: number;
  readonly deletedBy: User;
  readonly ts: number;
}

/**
 * What {@link PChatSDK.purge} resolves with: the position of the `message_purge` event in
 * the stream (`null` when the user had nothing to delete) and how many messages it deleted.
 */
export interface PurgeResult {
  readonly seq: number | null;
  readonly count: number;
}

/** The payload of each event. */
export interface EventMap {
  error: PChatError;
  connect: ConnectEvent;
  disconnect: DisconnectEvent;
  message: Message;
  message_delete: Message;
  reaction: ReactionEvent;
  reactions_stats: Record<string, number>;
  poll: Poll;
  history_load: Message[];
  state_change: StateChangeEvent;
  online: number;
  room_settings: RoomSettings;
  /** `null`: unpinned. */
  pin: Pin | null;
  banned: BannedEvent;
  /** No payload: the ban was lifted, or the timeout ended. */
  unbanned: null;
  /** After the MESSAGE_DELETE of each held message of the purged user. */
  purge: PurgeEvent;
  /**
   * The message that mentions this client's user, after its MESSAGE: live or recovered,
   * never from history, a `send` reply or the user's own message.
   */
  mention: Message;
  /**
   * A message hidden by reports, marked `hidden`: a viewer's client drops it from
   * `messages`, a moderator's keeps it marked.
   */
  message_hidden: Message;
  /** A hidden message shown again at its place (a moderator dismissed the reports). */
  message_restored: Message;
  /** The id of a user this user muted (their held messages were dropped first). */
  muted: string;
  /** The id of a user this user no longer mutes. */
  unmuted: string;
  /** Moderators: a message was reported (again). */
  report_added: Report;
  /** Moderators: a message's reports were decided. */
  report_removed: ReportRemovedEvent;
  /** Moderators: a message waits for review or for the chat delay. */
  review_added: Held;
  /** Moderators: a held message was approved, rejected or released. */
  review_removed: ReviewRemovedEvent;
  /** A held message of this user's was rejected. */
  message_rejected: MessageRejectedEvent;
  /** The room became too busy to read and viewers get a sample (`every` > 1), or no longer (1). */
  sampled: SampledEvent;
}

/** Connection limits from the connect reply (wire `max_message_chars`, …). */
export interface Limits {
  readonly maxMessageChars?: number;
  readonly maxFrameBytes?: number;
  readonly historyPageMax?: number;
}

/**
 * What a blocklist entry does to a matching message: refuse it, mask the match, or hold the
 * message for a moderator's review.
 */
export type FilterAction = 'block' | 'mask' | 'hold';

/** One entry of a room's or the server's blocklist (docs/moderation.md, "The word filter"). */
export interface FilterEntry {
  readonly pattern: string;
  readonly action: FilterAction;
}
