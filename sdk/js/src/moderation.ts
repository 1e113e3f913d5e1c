/**
 * The moderation calls of {@link PChatSDK} (moderators and admins), as the Python SDK's
 * `moderation.py`. Each is one protocol request (docs/protocol.md §2, docs/moderation.md);
 * what an action changes in the room reaches every client as a push (ROOM_SETTINGS, PIN,
 * MESSAGE_DELETE and PURGE for a purge, and BANNED/UNBANNED to the banned user's own clients). Durations are the wire's whole
 * **seconds** (`durationSeconds`, `slowMode`, `delay`, `withinSeconds`), not milliseconds as the SDK's options.
 * Reports and the review queue are in `reviews.ts`, personal mutes in `mutes.ts`.
 * @module
 */
import { EventEmitter } from './emitter.js';
import { InvalidArgumentError } from './errors.js';
import {
  banFromWire,
  modActionFromWire,
  pinFromWire,
  roomSettingsFromWire,
  type Json,
} from './models.js';
import type { Outcome, RoomState } from './roomState.js';
import type {
  Ban,
  FilterAction,
  FilterEntry,
  ModLogPage,
  Pin,
  PurgeResult,
  RoomMode,
  RoomSettings,
} from './types.js';

/** Options of {@link ModerationCalls.ban}. */
export interface BanOptions {
  /** A timeout of this many whole seconds (1 to a year); without it, a ban until lifted. */
  durationSeconds?: number;
  /** Why (at most 200 characters); the banned user's clients get it with BANNED. */
  reason?: string;
  /** Also close the user's connections in the room (close `4506`, no reconnect). */
  kick?: boolean;
  /**
   * A shadow ban: the user writes as before and sees no difference, but their new messages
   * reach only their own connections and the staff (marked `shadow`).
   */
  shadow?: boolean;
}

/** The settings {@link ModerationCalls.setRoomMode} changes; those not given stay. */
export interface RoomModeChanges {
  /** Whole seconds a viewer waits between two messages (0–3600; 0: off). */
  slowMode?: number;
  /** Refuse a viewer's message that repeats one of their 5 newest. */
  uniqueChat?: boolean;
  /** The room's message length limit (0: the server's). */
  maxMessageChars?: number;
  /** Who may write. */
  mode?: RoomMode;
  /** Hold every viewer message for a moderator's review (the review queue). */
  hold?: boolean;
  /** The chat delay: whole seconds (0–60; 0: off) before viewers' messages reach other viewers. */
  delay?: number;
}

/** Options of {@link ModerationCalls.purge}. */
export interface PurgeOptions {
  /** Only the messages of the last this many whole seconds; without it, all of them. */
  withinSeconds?: number;
}

function wholeSeconds(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${name} must be whole seconds, not ${String(value)}`);
  }
  return value;
}

/** The moderation methods; the client provides the request, its room state and events. */
export abstract class ModerationCalls extends EventEmitter {
  protected abstract request(type: string, args?: Json): Promise<Json>;
  protected abstract get roomState(): RoomState;
  protected abstract fire(outcome: Outcome): void;
  /** Wait (at most the request timeout) until the stream has been applied up to `seq`. */
  protected abstract waitSeq(seq: number): Promise<void>;

  /**
   * Ban `userId` from writing in the room: for `durationSeconds` (a timeout) or until
   * {@link unban}; `kick` also closes the user's connections here. Only a user of a lower
   * role can be banned. The user's clients fire BANNED. With `shadow`, the user may go on
   * writing, but only they and the staff see their new messages (and they are not told).
   */
  async ban(userId: string, options: BanOptions = {}): Promise<Ban> {
    const { durationSeconds, reason, kick, shadow } = options;
    const args: Json = { user_id: userId, reason };
    if (durationSeconds !== undefined) args.duration = wholeSeconds(durationSeconds, 'durationSeconds');
    if (kick) args.kick = true;
    if (shadow) args.shadow = true;
    const result = await this.request('ban', args);
    return banFromWire(result.ban);
  }

  /** Lift `userId`'s ban or timeout; NotFoundError if there is none. Their clients fire UNBANNED. */
  async unban(userId: string): Promise<void> {
    await this.request('unban', { user_id: userId });
  }

  /** The bans and timeouts in force in the room. */
  async getBans(): Promise<Ban[]> {
    const result = await this.request('bans');
    return (Array.isArray(result.bans) ? result.bans : []).map(banFromWire);
  }

  /**
   * Change any of the room's settings (those not given stay); resolves with the settings.
   * ROOM_SETTINGS fires on every client of the room.
   */
  async setRoomMode(changes: RoomModeChanges): Promise<RoomSettings> {
    const { slowMode, uniqueChat, maxMessageChars, mode, hold, delay } = changes;
    const result = await this.request('room_mode', {
      slow_mode: slowMode === undefined ? undefined : wholeSeconds(slowMode, 'slowMode'),
      unique_chat: uniqueChat,
      max_message_chars: maxMessageChars,
      mode,
      hold,
      delay: delay === undefined ? undefined : wholeSeconds(delay, 'delay'),
    });
    this.fire(this.roomState.applyRoomSettings(result.settings));
    return roomSettingsFromWire(result.settings);
  }

  /** Pin a message of the room (replacing any pin); PIN fires on every client. */
  pinMessage(messageId: string): Promise<Pin> {
    return this.pinWith({ message_id: messageId });
  }

  /** Pin a moderator's announcement (replacing any pin); PIN fires on every client. */
  pinAnnouncement(text: string): Promise<Pin> {
    return this.pinWith({ text });
  }

  private async pinWith(args: Json): Promise<Pin> {
    const result = await this.request('pin', args);
    this.fire(this.roomState.applyPin(result.pin));
    return pinFromWire(result.pin) as Pin;
  }

  /** Remove the room's pin; PIN fires with `null` on every client. */
  async unpin(): Promise<void> {
    await this.request('unpin');
    this.fire(this.roomState.applyPin(null));
  }

  /**
   * A page of the room's moderation log, newest first: `limit` (1–100, default 50) entries
   * older than the entry `before` (default: the newest); page on with
   * `before: page.entries.at(-1).id` while `hasMore`.
   */
  async getModLog(options: { before?: number; limit?: number } = {}): Promise<ModLogPage> {
    const result = await this.request('mod_log', { before: options.before, limit: options.limit });
    const entries = (Array.isArray(result.entries) ? result.entries : []).map(modActionFromWire);
    return { entries, hasMore: result.has_more === true };
  }

  /**
   * Delete every message `userId` posted in the room, or only those of the last
   * `withinSeconds`, through one stream event: each client marks the user's held messages
   * deleted (MESSAGE_DELETE for each) and fires PURGE once. Resolves once this client has
   * applied that event (at most `requestTimeout` later); `seq` is `null` and `count` 0 when
   * there was nothing to delete.
   */
  async purge(userId: string, options: PurgeOptions = {}): Promise<PurgeResult> {
    const args: Json = { user_id: userId };
    if (options.withinSeconds !== undefined) {
      args.within = wholeSeconds(options.withinSeconds, 'withinSeconds');
    }
    const result = await this.request('purge', args);
    const seq = typeof result.seq === 'number' ? result.seq : null;
    if (seq !== null) await this.waitSeq(seq);
    return { seq, count: typeof result.count === 'number' ? result.count : 0 };
  }

  /**
   * Add a word (or a pattern with `*` at its start and/or end) to the room's blocklist, or
   * with `server: true` the server-wide one (admins). `action` is `block` (a matching
   * message is refused, 125), `mask` (the match is replaced by `*`) or `hold` (the message
   * waits in the review queue); adding a listed pattern again changes its action.
   */
  async addFilterEntry(
    pattern: string,
    options: { action?: FilterAction; server?: boolean } = {},
  ): Promise<FilterEntry> {
    const result = await this.request('filter_add', {
      pattern,
      action: options.action ?? 'block',
      scope: options.server ? 'server' : undefined,
    });
    const entry = result.entry as { pattern: string; action: FilterAction };
    return { pattern: entry.pattern, action: entry.action };
  }

  /** Remove a pattern from the room's (or the server's) blocklist; NotFoundError if absent. */
  async removeFilterEntry(pattern: string, options: { server?: boolean } = {}): Promise<void> {
    await this.request('filter_remove', { pattern, scope: options.server ? 'server' : undefined });
  }

  /** The room's (or the server's) blocklist, oldest entry first (admins). */
  async getFilterEntries(options: { server?: boolean } = {}): Promise<FilterEntry[]> {
    const result = await this.request('filters', { scope: options.server ? 'server' : undefined });
    const entries = Array.isArray(result.entries) ? result.entries : [];
    return entries.map((e) => {
      const entry = e as { pattern: string; action: FilterAction };
      return { pattern: entry.pattern, action: entry.action };
    });
  }
}
