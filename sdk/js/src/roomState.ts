/**
 * What a client knows about its room, and how each server frame changes it. No I/O.
 *
 * {@link RoomState} applies connect replies (with their recovery), stream and state pushes,
 * history pages and request replies. Each `apply*` method returns an {@link Outcome}: the
 * events to fire, in order, and whether the client must reconnect (a gap in the stream) or
 * reload the latest history page (a reconnect that could not recover). The shared test
 * vectors (`tests/vectors/room_state.json`) drive this class directly; the Python SDK's
 * `room_state.py` follows the same rules.
 *
 * Rules (docs/protocol.md §4):
 * - `messages` is sorted by `seq`, holds each message id once, and only messages with
 *   `seq <= lastSeq` or ones confirmed by a `send` reply;
 * - the stream pushes are `message`, `message_delete`, `message_purge`, `message_hide`,
 *   `message_restore` and `skip`; one is applied only when its `seq` is `lastSeq + 1`; a
 *   smaller one is a duplicate and ignored; a larger one is a gap and is not applied; a
 *   `skip` (a position this connection does not see) only advances `lastSeq`;
 * - MESSAGE fires once per message id (the sender sees its message twice: as a push and
 *   as the `send` reply); MESSAGE_DELETE fires once, when a held message becomes deleted,
 *   or for a delete of a message not held;
 * - a `message_purge` deletes every held message of its `user_id` sent at `since` or later
 *   and placed before it in the stream (`seq` below the purge's): MESSAGE_DELETE for each
 *   that becomes deleted, then PURGE once;
 * - MENTION follows the MESSAGE of a message that a `message` push (live or replayed by a
 *   recovery) brings for the first time, whose `mentions` hold the user's id, and that is
 *   neither the user's own nor already deleted; history pages, `send` replies and messages
 *   already held fire none;
 * - a deleted copy of a message always wins over a non-deleted one (deletion is final);
 * - history messages newer than `lastSeq` are not merged: the stream delivers them;
 * - moderation (docs/moderation.md): the room's settings and pin fire ROOM_SETTINGS and PIN
 *   when they change (a moderator's reply and the push that follows fire once); `banned`
 *   always fires BANNED (the push's whole `ban` is held); UNBANNED fires when a held ban
 *   goes away;
 * - a `message_hide` (reported enough times) of a held message that is not deleted fires
 *   MESSAGE_HIDDEN with it marked `hidden`: a moderator's or admin's state keeps it so
 *   marked, a viewer's drops it from `messages`. A `message_restore` fires MESSAGE_RESTORED
 *   and holds its message (not hidden) at its `seq` when the client holds it marked hidden,
 *   dropped it on its hide, or the message lies within the held window (`seq` above the
 *   oldest held message's, or no older history left to load); a message older than the
 *   window is left to a history page. Both fire nothing otherwise;
 * - `mutes` lists the users this user muted (the connect reply's `room.mutes`, the
 *   `muted`/`unmuted` pushes, the replies of `mute`, `unmute` and `mutes`): MUTED/UNMUTED
 *   fire when it changes, and muting a user drops their held messages first. The server
 *   withholds a muted user's messages (`skip`); a `message` push, `message_restore` or
 *   history message of a muted user that still comes (sent before the mute took effect) is
 *   treated as a `skip`: never held, no event;
 * - the moderators' pushes (`review_add`, `review_remove`, `report_add`, `report_remove`)
 *   and `message_rejected` change no state: they fire their events;
 * - sampling (a huge, busy room): `sampled` holds the sampling in force (the connect reply's
 *   `room.sampled`, the `sampled` pushes; `null`: every message comes). While it is set, a
 *   stream push whose `seq` jumps ahead is applied (the positions between were left out on
 *   purpose); after a `sampled` push with `every` 1 and `seq` E, a jump is applied when
 *   every position it passes over is at most E. SAMPLED fires when `every` changes
 *   (silently on a first connect).
 * @module
 */
import {
  UNKNOWN_USER,
  asDeleted,
  banFromWire,
  heldFromWire,
  limitsFromWire,
  messageFromWire,
  pinFromWire,
  pollFromWire,
  reportFromWire,
  roomSettingsFromWire,
  sameObject,
  samePoll,
  userFromWire,
  type Json,
} from './models.js';
import type {
  Ban,
  EventMap,
  Held,
  Limits,
  Message,
  Pin,
  Poll,
  RoomSettings,
  SampledEvent,
  User,
} from './types.js';

/** One event the client must fire, with its payload. */
export type RoomEvent = {
  [E in keyof EventMap]: { readonly event: E; readonly payload: EventMap[E] };
}[keyof EventMap];

/** The effect of one frame: events to fire, in order, and what the client must do. */
export class Outcome {
  readonly events: RoomEvent[] = [];
  /** A stream push skipped a position: reconnect with recovery. */
  gap = false;
  /** The held messages were dropped (a reconnect that did not recover): load the latest page. */
  reset = false;
  /** For a connect reply: `null` on the first connect, else whether the reconnect recovered. */
  recovered: boolean | null = null;

  add<E extends keyof EventMap>(event: E, payload: EventMap[E]): void {
    this.events.push({ event, payload } as RoomEvent);
  }

  extend(other: Outcome): void {
    this.events.push(...other.events);
    this.gap = this.gap || other.gap;
  }
}

/** The push types that form the room's stream (docs/protocol.md §4): each has a `seq`. */
const STREAM_PUSHES: ReadonlySet<unknown> = new Set([
  'message',
  'message_delete',
  'message_purge',
  'message_hide',
  'message_restore',
  'skip',
]);

/** The roles that see hidden and shadow-banned users' messages (marked). */
const STAFF: ReadonlySet<string> = new Set(['moderator', 'admin']);

function sameStats(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function statsFromWire(value: unknown): Record<string, number> {
  const stats: Record<string, number> = {};
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'number') stats[k] = v;
    }
  }
  return stats;
}

/** The client's view of one room: messages, stream position, polls, statistics. */
export class RoomState {
  roomId: string | null = null;
  user: User | null = null;
  /** The room stream's epoch. */
  epoch: string | null = null;
  /** The `seq` of the last stream event applied. */
  lastSeq = 0;
  /** Held messages, oldest to newest. */
  readonly messages: Message[] = [];
  private readonly byId = new Map<string, Message>();
  /** Polls by id, in the order first seen. */
  readonly polls = new Map<string, Poll>();
  /** Whether the room has older polls than those held (finished ones are paged). */
  morePolls = false;
  stats: Record<string, number> = {};
  reactionTypes: string[] = [];
  online = 0;
  /** The token's expiry (seconds since the epoch) from the last connect reply. */
  tokenExp: number | null = null;
  limits: Limits = {};
  /** Whether older history exists (true until a page says otherwise). */
  hasMore = true;
  /** Whether a connect reply has been applied (the next one is a reconnect). */
  joined = false;
  /** The room's modes, its pin, and this user's own ban (docs/moderation.md). */
  roomSettings: RoomSettings = roomSettingsFromWire({});
  pin: Pin | null = null;
  myBan: Ban | null = null;
  /** The ids of the users this user muted, in the order muted. */
  mutes: string[] = [];
  /** Held messages a viewer dropped on their hide: a restore puts them back. */
  private readonly hiddenIds = new Set<string>();
  /** The sampling in force in a huge, busy room (`null`: every message comes). */
  sampled: SampledEvent | null = null;
  /** Positions up to this one may have been left out by a sampling that ended. */
  private sampledTo = 0;

  // -- messages -------------------------------------------------------------------------

  /** The held message with this id. */
  get(messageId: string): Message | undefined {
    return this.byId.get(messageId);
  }

  /** The index of the first held message with `seq >= seq`. */
  private indexOf(seq: number): number {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.messages[mid] as Message).seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Insert a message, or replace the held copy with the same id. */
  private put(message: Message): void {
    const held = this.byId.get(message.id);
    this.byId.set(message.id, message);
    if (held !== undefined) {
      const j = this.indexOf(held.seq);
      if (this.messages[j]?.id === message.id) {
        if (held.seq === message.seq) {
          this.messages[j] = message;
          return;
        }
        this.messages.splice(j, 1);
      }
    }
    this.messages.splice(this.indexOf(message.seq), 0, message);
  }

  /** Drop a held message. */
  private remove(messageId: string): void {
    const held = this.byId.get(messageId);
    if (held === undefined) return;
    this.byId.delete(messageId);
    let j = this.indexOf(held.seq);
    while (j < this.messages.length && this.messages[j]?.id !== messageId) j += 1;
    this.messages.splice(j, 1);
  }

  private clearMessages(): void {
    this.messages.length = 0;
    this.byId.clear();
    this.hiddenIds.clear();
    this.hasMore = true;
  }

  private addMessage(message: Message, out: Outcome): Message {
    const held = this.byId.get(message.id);
    if (held === undefined) {
      this.put(message);
      out.add('message', message);
      return message;
    }
    if (message.deleted && !held.deleted) {
      this.put(message);
      out.add('message_delete', message);
      return message;
    }
    return held;
  }

  /** A `message` push: MESSAGE if new, then MENTION if it mentions this user. */
  private applyMessage(message: Message, out: Outcome): void {
    if (this.isMuted(message)) return; // sent before the mute took effect: as a skip
    const fresh = !this.byId.has(message.id);
    this.addMessage(message, out);
    if (fresh && this.mentionsMe(message)) out.add('mention', message);
  }

  /** Whether `message` mentions this client's user (not in their own, not deleted). */
  private mentionsMe(message: Message): boolean {
    const me = this.user;
    return (
      me !== null &&
      (message.mentions?.includes(me.id) ?? false) &&
      message.user.id !== me.id &&
      !message.deleted
    );
  }

  private isStaff(): boolean {
    return this.user !== null && STAFF.has(this.user.role);
  }

  /** Whether `message` is by a user this user muted (never their own). */
  private isMuted(message: Message): boolean {
    return this.mutes.includes(message.user.id) && message.user.id !== this.user?.id;
  }

  /** A message hidden by reports: staff keep it marked, viewers drop it. */
  private applyHide(push: Json, out: Outcome): void {
    const held = this.byId.get(String(push.message_id));
    if (held === undefined || held.deleted || held.hidden) return;
    const hidden = { ...held, hidden: true };
    if (this.isStaff()) {
      this.put(hidden);
    } else {
      this.remove(held.id);
      this.hiddenIds.add(held.id);
    }
    out.add('message_hidden', hidden);
  }

  /** A hidden message shown again, at its place, if it belongs to what is held. */
  private applyRestore(restored: Message, out: Outcome): void {
    if (this.isMuted(restored) || restored.deleted) return;
    const message = { ...restored, hidden: false };
    const held = this.byId.get(message.id);
    if (held !== undefined) {
      if (held.deleted || !held.hidden) return;
    } else if (
      !this.hiddenIds.has(message.id) &&
      !(this.messages.length > 0 && message.seq > (this.messages[0] as Message).seq) &&
      this.hasMore
    ) {
      return; // older than the held window: a history page brings it
    }
    this.hiddenIds.delete(message.id);
    this.put(message);
    out.add('message_restored', message);
  }

  private applyDelete(push: Json, out: Outcome): void {
    const by = userFromWire(push.deleted_by);
    const id = String(push.message_id);
    const at = typeof push.ts === 'number' ? push.ts : 0;
    const held = this.byId.get(id);
    if (held === undefined) {
      out.add('message_delete', {
        id,
        seq: typeof push.message_seq === 'number' ? push.message_seq : 0,
        ts: 0,
        user: UNKNOWN_USER,
        text: '',
        deleted: true,
        shadow: false,
        hidden: false,
        deletedBy: by,
        deletedAt: at,
      });
    } else if (!held.deleted) {
      const deleted = asDeleted(held, by, at);
      this.put(deleted);
      out.add('message_delete', deleted);
    } else if (!held.deletedBy) {
      // Replayed already deleted without details: fill them in, silently.
      this.put({ ...held, deletedBy: by, deletedAt: at });
    }
  }

  /**
   * Delete the held messages of the purged user sent at `since` or later; those after the
   * purge in the stream (`seq` above it, from a `send` reply) stay.
   */
  private applyPurge(push: Json, seq: number, out: Outcome): void {
    const by = userFromWire(push.deleted_by);
    const userId = String(push.user_id);
    const since = typeof push.since === 'number' ? push.since : 0;
    const at = typeof push.ts === 'number' ? push.ts : 0;
    const count = typeof push.count === 'number' ? push.count : 0;
    for (const held of [...this.messages]) {
      if (held.seq >= seq) break;
      if (held.user.id !== userId || held.ts < since) continue;
      if (!held.deleted) {
        const deleted = asDeleted(held, by, at);
        this.put(deleted);
        out.add('message_delete', deleted);
      } else if (!held.deletedBy) {
        this.put({ ...held, deletedBy: by, deletedAt: at });
      }
    }
    out.add('purge', { userId, since, count, deletedBy: by, ts: at });
  }

  // -- pushes ---------------------------------------------------------------------------

  /** Apply one server push (stream or state); unknown types are ignored. */
  applyPush(push: Json): Outcome {
    const out = new Outcome();
    switch (push.type) {
      case 'message':
      case 'message_delete':
      case 'message_purge':
      case 'message_hide':
      case 'message_restore':
      case 'skip': {
        const seq = typeof push.seq === 'number' ? push.seq : 0;
        if (seq <= this.lastSeq) return out; // a duplicate
        if (seq !== this.lastSeq + 1 && !this.leftOut(seq)) {
          out.gap = true;
          return out;
        }
        this.lastSeq = seq;
        if (push.type === 'message') this.applyMessage(messageFromWire(push.message), out);
        else if (push.type === 'message_delete') this.applyDelete(push, out);
        else if (push.type === 'message_purge') this.applyPurge(push, seq, out);
        else if (push.type === 'message_hide') this.applyHide(push, out);
        else if (push.type === 'message_restore') this.applyRestore(messageFromWire(push.message), out);
        // skip: a position this connection does not see
        break;
      }
      case 'reaction':
        out.add('reaction', {
          reaction: String(push.reaction),
          user: userFromWire(push.user),
          ts: typeof push.ts === 'number' ? push.ts : 0,
        });
        break;
      case 'reactions_stats':
        this.stats = statsFromWire(push.stats);
        out.add('reactions_stats', { ...this.stats });
        break;
      case 'poll':
        this.putPoll(pollFromWire(push.poll), out);
        break;
      case 'online':
        if (typeof push.online === 'number' && push.online !== this.online) {
          this.online = push.online;
          out.add('online', this.online);
        }
        break;
      case 'room_settings':
        out.extend(this.applyRoomSettings(push.settings));
        break;
      case 'pin':
        out.extend(this.applyPin(push.pin));
        break;
      case 'banned':
        this.setBan(this.banFromPush(push), out, true);
        break;
      case 'unbanned':
        this.setBan(null, out);
        break;
      case 'muted':
      case 'unmuted':
        out.extend(this.applyMute(String(push.user_id), push.type === 'muted'));
        break;
      case 'review_add':
        out.add('review_added', heldFromWire(push.item));
        break;
      case 'review_remove':
        out.add('review_removed', {
          id: String(push.id),
          outcome: String(push.outcome),
          by: push.by ? userFromWire(push.by) : null,
        });
        break;
      case 'report_add':
        out.add('report_added', reportFromWire(push.report));
        break;
      case 'report_remove':
        out.add('report_removed', {
          messageId: String(push.message_id),
          outcome: String(push.outcome),
          by: userFromWire(push.by),
        });
        break;
      case 'message_rejected':
        out.add('message_rejected', {
          id: String(push.id),
          reason: typeof push.reason === 'string' ? push.reason : '',
        });
        break;
      case 'sampled':
        this.setSampled(push, out);
        break;
      default:
        break;
    }
    return out;
  }

  // -- sampling -------------------------------------------------------------------------

  /**
   * Whether the positions before `seq` that never came were left out on purpose (the room is
   * sampled, or was up to `sampledTo`).
   */
  private leftOut(seq: number): boolean {
    return this.sampled !== null || seq - 1 <= this.sampledTo;
  }

  /** Apply a `sampled` push or a connect reply's `room.sampled` (`null`: none). */
  private setSampled(data: Json | null | undefined, out: Outcome): void {
    const every = data && typeof data.every === 'number' ? data.every : 1;
    const held = this.sampled;
    if (every > 1) {
      const rate = data && typeof data.rate === 'number' ? data.rate : null;
      this.sampled = { every, rate, seq: null };
      if (held === null || held.every !== every) out.add('sampled', this.sampled);
      return;
    }
    const seq = data && typeof data.seq === 'number' ? data.seq : null;
    if (seq !== null) this.sampledTo = Math.max(this.sampledTo, seq);
    this.sampled = null;
    if (held !== null) out.add('sampled', { every: 1, rate: null, seq });
  }

  // -- mutes ----------------------------------------------------------------------------

  /**
   * Apply a mute or unmute (a push, or the reply of `mute`/`unmute`); MUTED or UNMUTED fires
   * if it changed `mutes`. Muting drops the user's held messages first.
   */
  applyMute(userId: string, muted: boolean): Outcome {
    const out = new Outcome();
    const i = this.mutes.indexOf(userId);
    if (muted && i < 0) {
      this.mutes.push(userId);
      this.dropUser(userId);
      out.add('muted', userId);
    } else if (!muted && i >= 0) {
      this.mutes.splice(i, 1);
      out.add('unmuted', userId);
    }
    return out;
  }

  /**
   * Apply the whole list of mutes (the reply of `mutes`, a connect reply's `room.mutes`):
   * UNMUTED for each id gone, then MUTED for each new one.
   */
  applyMutes(userIds: readonly unknown[]): Outcome {
    const out = new Outcome();
    const wanted = [...new Set(userIds.map(String))];
    for (const userId of this.mutes.filter((u) => !wanted.includes(u))) {
      out.extend(this.applyMute(userId, false));
    }
    for (const userId of wanted) out.extend(this.applyMute(userId, true));
    this.mutes = wanted; // the server's order
    return out;
  }

  /** Drop the held messages of `userId` (not this user's own). */
  private dropUser(userId: string): void {
    if (this.user !== null && userId === this.user.id) return;
    for (const message of this.messages.filter((m) => m.user.id === userId)) {
      this.remove(message.id);
    }
  }

  // -- moderation -----------------------------------------------------------------------

  /** Apply the room's settings (a push, a `room_mode` reply); ROOM_SETTINGS fires if they changed. */
  applyRoomSettings(data: unknown): Outcome {
    const out = new Outcome();
    const settings = roomSettingsFromWire(data);
    if (!sameObject(settings, this.roomSettings)) {
      this.roomSettings = settings;
      out.add('room_settings', settings);
    }
    return out;
  }

  /** Apply the room's pin (a push, a `pin` reply; `null`: unpinned); PIN fires if it changed. */
  applyPin(data: unknown): Outcome {
    const out = new Outcome();
    const pin = pinFromWire(data);
    if (!sameObject(pin, this.pin)) {
      this.pin = pin;
      out.add('pin', pin);
    }
    return out;
  }

  /**
   * A held timeout that ended by `nowMs` goes away: UNBANNED fires (the server pushes
   * nothing when a timeout ends by itself).
   */
  expireBan(nowMs: number): Outcome {
    const out = new Outcome();
    const until = this.myBan?.until;
    if (typeof until === 'number' && until <= nowMs) this.setBan(null, out);
    return out;
  }

  /**
   * The `banned` push's whole `ban`; from a server that sends only `until` and `reason`, a
   * ban whose `by` and `createdAt` are unknown (an empty user, 0).
   */
  private banFromPush(push: Json): Ban {
    if (typeof push.ban === 'object' && push.ban !== null) return banFromWire(push.ban);
    return {
      userId: this.user?.id ?? '',
      by: UNKNOWN_USER,
      createdAt: 0,
      until: typeof push.until === 'number' ? push.until : null,
      reason: typeof push.reason === 'string' ? push.reason : '',
      shadow: false,
    };
  }

  private setBan(ban: Ban | null, out: Outcome, always = false): void {
    const held = this.myBan;
    this.myBan = ban;
    if (ban === null) {
      if (held !== null) out.add('unbanned', null);
    } else if (always || held === null || held.until !== ban.until || held.reason !== ban.reason) {
      out.add('banned', { until: ban.until, reason: ban.reason });
    }
  }

  // -- connect and recovery -------------------------------------------------------------

  /** Whether the replayed events continue the stream from `lastSeq` up to `roomSeq`. */
  private recoveryIsComplete(events: readonly Json[], roomSeq: number): boolean {
    let seq = this.lastSeq;
    for (const push of events) {
      if (!STREAM_PUSHES.has(push.type) || typeof push.seq !== 'number') continue;
      if (push.seq <= seq) continue;
      if (push.seq !== seq + 1) return false;
      seq += 1;
    }
    return seq >= roomSeq;
  }

  /** Apply a connect reply: the first one, or a reconnect's with its `recovery`. */
  applyConnect(result: Json): Outcome {
    const room = (result.room ?? {}) as Json;
    const roomSeq = typeof room.seq === 'number' ? room.seq : 0;
    const rejoin = this.joined;
    const out = new Outcome();
    this.user = userFromWire(result.user);
    // The mutes first: they decide what the replayed events may bring.
    const mutes = this.applyMutes(Array.isArray(room.mutes) ? room.mutes : []);
    if (rejoin) out.extend(mutes);
    this.setSampled(room.sampled as Json | undefined, rejoin ? out : new Outcome());
    const recovery = result.recovery as Json | undefined | null;
    const events = Array.isArray(recovery?.events) ? (recovery.events as Json[]) : [];
    if (
      rejoin &&
      recovery &&
      recovery.recovered === true &&
      this.recoveryIsComplete(events, roomSeq)
    ) {
      this.epoch = String(room.epoch);
      for (const push of events) out.extend(this.applyPush(push));
      out.recovered = true;
    } else {
      if (rejoin) {
        out.recovered = false;
        out.reset = true;
      }
      this.clearMessages();
      this.epoch = String(room.epoch);
      this.lastSeq = roomSeq;
    }
    this.roomId = String(room.id);
    this.tokenExp = typeof result.token_exp === 'number' ? result.token_exp : null;
    this.limits = limitsFromWire(result.limits);
    this.applyRoomState(room, rejoin ? out : new Outcome());
    this.joined = true;
    return out;
  }

  /** Online count, reaction statistics, polls and moderation state; events only for what changed. */
  private applyRoomState(room: Json, out: Outcome): void {
    if (typeof room.online === 'number' && room.online !== this.online) {
      this.online = room.online;
      out.add('online', this.online);
    }
    const reactions = (room.reactions ?? {}) as Json;
    if (Array.isArray(reactions.types)) this.reactionTypes = reactions.types.map(String);
    const stats = statsFromWire(reactions.stats);
    if (!sameStats(stats, this.stats)) {
      this.stats = stats;
      out.add('reactions_stats', { ...stats });
    }
    for (const data of Array.isArray(room.polls) ? room.polls : []) {
      this.putPoll(pollFromWire(data), out);
    }
    this.morePolls = room.polls_more === true;
    out.extend(this.applyRoomSettings(room.settings));
    out.extend(this.applyPin(room.pin));
    this.setBan(room.ban ? banFromWire(room.ban) : null, out);
  }

  // -- history and replies --------------------------------------------------------------

  /** Merge a history page; HISTORY_LOAD carries the page as now held. */
  applyHistory(result: Json): { page: Message[]; outcome: Outcome } {
    const page: Message[] = [];
    for (const data of Array.isArray(result.messages) ? result.messages : []) {
      const message = messageFromWire(data);
      // The stream delivers a newer one; a muted user's is not held.
      if (message.seq > this.lastSeq || this.isMuted(message)) continue;
      let held = this.byId.get(message.id);
      if (held === undefined || (message.deleted && !held.deleted)) {
        this.put(message);
        held = message;
      }
      page.push(held);
    }
    this.hasMore = result.has_more === true;
    const outcome = new Outcome();
    outcome.add('history_load', page);
    return { page, outcome };
  }

  /**
   * Apply a `send` reply: its message as held, or the {@link Held} it returns for a message
   * held for review or by the chat delay (nothing held, no event: the message enters the
   * stream later with the held one's id).
   */
  applySent(result: Json): { message: Message | Held; outcome: Outcome } {
    const outcome = new Outcome();
    if (result.message === null || result.message === undefined) {
      return { message: heldFromWire(result.held), outcome };
    }
    return { message: this.addMessage(messageFromWire(result.message), outcome), outcome };
  }

  private putPoll(incoming: Poll, out: Outcome): Poll {
    let poll = incoming;
    const held = this.polls.get(poll.id);
    if (held !== undefined && poll.myVote == null && held.myVote != null) {
      poll = { ...poll, myVote: held.myVote }; // pushes go to everyone: no my_vote
    }
    const changed =
      held === undefined ||
      !samePoll(held, poll) ||
      (held.myVote ?? null) !== (poll.myVote ?? null);
    if (changed) {
      this.polls.set(poll.id, poll);
      out.add('poll', poll);
      return poll;
    }
    return held;
  }

  /** Apply a poll from a reply (create, vote, finish); POLL fires if it changed. */
  applyPoll(data: unknown): { poll: Poll; outcome: Outcome } {
    const outcome = new Outcome();
    return { poll: this.putPoll(pollFromWire(data), outcome), outcome };
  }

  /** Apply a page of `polls`; `morePolls` then says if older ones exist. */
  applyPolls(result: Json): { polls: Poll[]; outcome: Outcome } {
    const outcome = new Outcome();
    this.morePolls = result.has_more === true;
    const list = result.polls;
    const polls = (Array.isArray(list) ? list : []).map((p) =>
      this.putPoll(pollFromWire(p), outcome),
    );
    return { polls, outcome };
  }

  /** Apply the reply of `reactions_stats`; REACTIONS_STATS always fires. */
  applyStats(stats: unknown): Outcome {
    this.stats = statsFromWire(stats);
    const outcome = new Outcome();
    outcome.add('reactions_stats', { ...this.stats });
    return outcome;
  }
}
