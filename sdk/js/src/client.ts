/**
 * The client, {@link PChatSDK}: the vendor SDK's API over the pchat protocol.
 *
 * ```ts
 * const sdk = new PChatSDK();                       // the page's origin, or { url }
 * sdk.on(Events.MESSAGE, (message) => render(message));
 * await sdk.connect('lobby', 'Ann', token);
 * await sdk.loadHistory();
 * await sdk.sendMessage('hello');
 * ```
 *
 * Its connection lifecycle — connect, disconnect, reconnect with recovery, the timers and
 * the requests that wait for a connection — is in `lifecycle.ts`; this module holds what the
 * client shows of its room and the message calls.
 *
 * Moderators and admins moderate the room (`ban`, `setRoomMode`, `pinMessage`, `purge`, …,
 * in `moderation.ts`; `approve`, `resolveReport`, … in `reviews.ts`); any user mutes others
 * for themselves (`mutes.ts`) and reports messages. Every client holds the room's
 * `roomSettings`, `pin`, its user's own `myBan` and `mutes` (docs/moderation.md).
 *
 * Calls made by the application reject on failure (and do not fire `ERROR`).
 * @module
 */
import { ConnectionClosedError, RequestTimeoutError } from './errors.js';
import { ConnectionLifecycle } from './lifecycle.js';
import type { Json } from './models.js';
import { timestampMs, type Timestamp } from './timestamps.js';
import type { Ban, Held, Message, Pin, Poll, RoomSettings, SampledEvent, User } from './types.js';

/** Options of {@link PChatSDK.sendMessage}. */
export interface SendMessageOptions {
  /** The client id that makes a resend recognisable (default: a random one). */
  cid?: string;
  /** The id of the room's message this one answers (`NotFoundError` if there is none). */
  replyTo?: string;
}

function newCid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID().replace(/-/g, '');
  let cid = '';
  for (let i = 0; i < 32; i++) cid += Math.floor(Math.random() * 16).toString(16);
  return cid;
}

/** A client of one pchat room. */
export class PChatSDK extends ConnectionLifecycle {
  // -- public state ---------------------------------------------------------------------

  /** The user, as the server confirmed it on connect; `null` before. */
  get user(): User | null {
    return this.room.user;
  }

  /** The room connected to (or last connected to). */
  get roomId(): string | null {
    return this.room.roomId;
  }

  /** The held messages, oldest to newest, each id once; deleted ones marked (a copy). */
  get messages(): Message[] {
    return [...this.room.messages];
  }

  /** The room's polls, in the order first seen (a copy). */
  get polls(): Poll[] {
    return [...this.room.polls.values()];
  }

  /** Reaction totals per type (a copy). */
  get reactionsStats(): Record<string, number> {
    return { ...this.room.stats };
  }

  /** The reactions the room accepts. */
  get reactionTypes(): string[] {
    return [...this.room.reactionTypes];
  }

  /** The room's connection count. */
  get online(): number {
    return this.room.online;
  }

  /** Whether the room has older polls than those held (page them with `getPolls({ before })`). */
  get hasMorePolls(): boolean {
    return this.room.morePolls;
  }

  /** Whether older history exists than the last page loaded. */
  get hasMoreHistory(): boolean {
    return this.room.hasMore;
  }

  /** The room stream's epoch. */
  get epoch(): string | null {
    return this.room.epoch;
  }

  /** The position of the last stream event applied. */
  get lastSeq(): number {
    return this.room.lastSeq;
  }

  /** The room's modes (slow mode in seconds, unique chat, length limit, who may write). */
  get roomSettings(): RoomSettings {
    return this.room.roomSettings;
  }

  /** The room's pinned message or announcement, if any. */
  get pin(): Pin | null {
    return this.room.pin;
  }

  /**
   * This user's ban or timeout in the room, while it acts (`null`: may write). From a
   * `banned` push, its `by` is an empty user and `createdAt` 0 (unknown).
   */
  get myBan(): Ban | null {
    const ban = this.room.myBan;
    return ban !== null && ban.until !== null && ban.until <= Date.now() ? null : ban;
  }

  /**
   * The ids of the users this user muted (a copy): their messages are not delivered to this
   * user, in any room or on any device (see `mute`).
   */
  get mutes(): string[] {
    return [...this.room.mutes];
  }

  /**
   * The sampling in force in a huge, busy room: this viewer gets one of every
   * `sampled.every` messages (and its own, its mentions and the staff's); `null`: every
   * message. SAMPLED fires when it changes.
   */
  get sampled(): SampledEvent | null {
    return this.room.sampled;
  }

  // -- messages -----------------------------------------------------------------------

  /**
   * Load the page of messages before `timestamp`, by default before the oldest held message;
   * fires HISTORY_LOAD and resolves with the page (oldest first). `timestamp`: a `Date`,
   * milliseconds (a number, or a string of digits) or an ISO-8601 string; anything else
   * rejects with InvalidArgumentError. Calls are queued: each runs after the previous one
   * finished, in call order.
   */
  loadHistory(timestamp?: Timestamp | null, options: { limit?: number } = {}): Promise<Message[]> {
    let beforeTs: number | undefined;
    let session: number;
    try {
      beforeTs = timestamp === undefined || timestamp === null ? undefined : timestampMs(timestamp);
      session = this.session();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.history(beforeTs, options.limit, session, true);
  }

  /**
   * Send `text`; resolves with the stored message, or with a {@link Held} message when the
   * room holds it for review or by the chat delay (tell them apart with {@link isHeld}): it
   * enters the stream later, with the held one's id, or MESSAGE_REJECTED fires with that id.
   * A client id (`cid`) is generated when not given: if the connection drops before the
   * reply, the SDK waits for its reconnect and sends again with the same `cid`, which the
   * server recognises (no duplicate). `replyTo`: the id of the room's message this one
   * answers. The server fills in the message's `mentions` from the `@username`s in `text`.
   */
  async sendMessage(text: string, options: SendMessageOptions = {}): Promise<Message | Held> {
    const session = this.session();
    const cid = options.cid ?? newCid();
    const args: Json = { text, cid };
    if (options.replyTo !== undefined) args.reply_to = options.replyTo;
    let conn = await this.ready(session, Date.now() + this.requestTimeout);
    let result: Json;
    try {
      result = await conn.request('send', args);
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) throw error;
      try {
        conn = await this.ready(session, Date.now() + this.requestTimeout, conn);
      } catch (waitError) {
        throw waitError instanceof RequestTimeoutError ? error : waitError;
      }
      result = await conn.request('send', args);
    }
    const { message, outcome } = this.room.applySent(result);
    this.fire(outcome);
    return message;
  }

  /**
   * Soft-delete a message; resolves with it as now held (`null` if not held).
   * MESSAGE_DELETE fires from the room's `message_delete` push; this call waits (up to
   * `requestTimeout`) for that push before resolving.
   */
  async deleteMessage(messageId: string): Promise<Message | null> {
    const result = await this.request('delete', { message_id: messageId });
    if (typeof result.seq === 'number') await this.waitSeq(result.seq);
    return this.room.get(messageId) ?? null;
  }

  /** Send a reaction (one of {@link reactionTypes}); REACTION fires from the push. */
  async sendReaction(reaction: string): Promise<void> {
    await this.request('react', { reaction });
  }

  /** Ask for the reaction totals; fires REACTIONS_STATS and resolves with them. */
  async getReactionsStats(): Promise<Record<string, number>> {
    const result = await this.request('reactions_stats');
    this.fire(this.room.applyStats(result.stats));
    return { ...this.room.stats };
  }
}
