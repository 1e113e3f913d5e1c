/**
 * The SDK's objects built from frames: each `*FromWire` returns a fresh object with the
 * fields of docs/protocol.md renamed to camelCase (`deleted_by` → `deletedBy`, `total_votes`
 * → `totalVotes`, …), defaults filled in, unknown fields dropped. This is the one place
 * where wire names become the SDK's: nothing the application gets carries a snake_case key
 * (`tests/vectors/sdk_surface.json` lists each object's fields per language). No I/O.
 * @module
 */
import type {
  Ban,
  Held,
  Limits,
  Message,
  ModAction,
  Pin,
  Poll,
  PollOption,
  Report,
  RoomSettings,
  User,
} from './types.js';

/** A decoded JSON object (a frame or a part of one). */
export type Json = Record<string, unknown>;

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' ? value : fallback;
}

function numOrNull(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null ? (value as Json) : {};
}

/** The user nobody knows: a deleted message the client never held. */
export const UNKNOWN_USER: User = Object.freeze({ id: '', username: '', role: 'viewer' });

export function userFromWire(data: unknown): User {
  const d = obj(data);
  return { id: str(d.id), username: str(d.username), role: str(d.role, 'viewer') };
}

/** The optional `cid`, `replyTo` and `mentions` (not empty) of a message or a held one. */
function setReplyFields(
  target: { cid?: string; replyTo?: string; mentions?: readonly string[] },
  d: Json,
): void {
  if (typeof d.cid === 'string') target.cid = d.cid;
  if (typeof d.reply_to === 'string') target.replyTo = d.reply_to;
  if (Array.isArray(d.mentions)) {
    const mentions = d.mentions.filter((id): id is string => typeof id === 'string');
    if (mentions.length > 0) target.mentions = mentions;
  }
}

export function messageFromWire(data: unknown): Message {
  const d = obj(data);
  const message: {
    -readonly [K in keyof Message]: Message[K];
  } = {
    id: str(d.id),
    seq: num(d.seq),
    ts: num(d.ts),
    user: userFromWire(d.user),
    text: str(d.text),
    deleted: d.deleted === true,
    shadow: d.shadow === true,
    hidden: d.hidden === true,
  };
  setReplyFields(message, d);
  if (message.deleted) {
    message.deletedBy = d.deleted_by ? userFromWire(d.deleted_by) : null;
    message.deletedAt = numOrNull(d.deleted_at);
  }
  return message;
}

/** `message` soft-deleted: text removed, who and when recorded. */
export function asDeleted(message: Message, by: User, at: number): Message {
  return { ...message, text: '', deleted: true, deletedBy: by, deletedAt: at };
}

export function pollFromWire(data: unknown): Poll {
  const d = obj(data);
  const options: PollOption[] = (Array.isArray(d.options) ? d.options : []).map((o) => {
    const od = obj(o);
    return { text: str(od.text), votes: num(od.votes) };
  });
  const poll: { -readonly [K in keyof Poll]: Poll[K] } = {
    id: str(d.id),
    question: str(d.question),
    options,
    status: str(d.status),
    totalVotes:
      typeof d.total_votes === 'number'
        ? d.total_votes
        : options.reduce((sum, o) => sum + o.votes, 0),
    createdBy: userFromWire(d.created_by),
    createdAt: num(d.created_at),
    publishAt: numOrNull(d.publish_at),
    publishedAt: numOrNull(d.published_at),
    finishedAt: numOrNull(d.finished_at),
  };
  if (typeof d.my_vote === 'number') poll.myVote = d.my_vote;
  return poll;
}

/** The connect reply's `limits`; a limit the reply does not give is left out. */
export function limitsFromWire(data: unknown): Limits {
  const d = obj(data);
  const limits: { -readonly [K in keyof Limits]: Limits[K] } = {};
  if (typeof d.max_message_chars === 'number') limits.maxMessageChars = d.max_message_chars;
  if (typeof d.max_frame_bytes === 'number') limits.maxFrameBytes = d.max_frame_bytes;
  if (typeof d.history_page_max === 'number') limits.historyPageMax = d.history_page_max;
  return limits;
}

function strOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export function roomSettingsFromWire(data: unknown): RoomSettings {
  const d = obj(data);
  return {
    slowMode: num(d.slow_mode),
    uniqueChat: d.unique_chat === true,
    maxMessageChars: num(d.max_message_chars),
    mode: str(d.mode, 'open'),
    hold: d.hold === true,
    delay: num(d.delay),
  };
}

/** A pin, or `null` for none. */
export function pinFromWire(data: unknown): Pin | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Json;
  return {
    by: userFromWire(d.by),
    ts: num(d.ts),
    message: d.message ? messageFromWire(d.message) : null,
    text: strOrNull(d.text),
  };
}

export function banFromWire(data: unknown): Ban {
  const d = obj(data);
  return {
    userId: str(d.user_id),
    by: userFromWire(d.by),
    createdAt: num(d.created_at),
    until: numOrNull(d.until),
    reason: str(d.reason),
    shadow: d.shadow === true,
  };
}

export function heldFromWire(data: unknown): Held {
  const d = obj(data);
  const held: { -readonly [K in keyof Held]: Held[K] } = {
    id: str(d.id),
    ts: num(d.ts),
    user: userFromWire(d.user),
    text: str(d.text),
    reason: str(d.reason),
    releaseAt: numOrNull(d.release_at),
  };
  setReplyFields(held, d);
  return held;
}

/** A report; its message is marked `hidden` when the report says it is. */
export function reportFromWire(data: unknown): Report {
  const d = obj(data);
  let message = messageFromWire(d.message);
  if (d.hidden === true && !message.hidden) message = { ...message, hidden: true };
  return {
    message,
    count: num(d.count),
    reasons: (Array.isArray(d.reasons) ? d.reasons : []).filter(
      (r): r is string => typeof r === 'string',
    ),
    lastTs: num(d.last_ts),
    hidden: message.hidden,
  };
}

export function modActionFromWire(data: unknown): ModAction {
  const d = obj(data);
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj(d.details))) details[camel(key)] = value;
  return {
    id: num(d.id),
    action: str(d.action),
    by: userFromWire(d.by),
    ts: num(d.ts),
    targetUserId: strOrNull(d.target_user_id),
    messageId: strOrNull(d.message_id),
    reason: str(d.reason),
    details,
  };
}

/** Whether two objects built here are equal (same keys in the same order, same values). */
export function sameObject(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameUser(a: User, b: User): boolean {
  return a.id === b.id && a.username === b.username && a.role === b.role;
}

/** Whether two polls are the same apart from `myVote` (which pushes do not carry). */
export function samePoll(a: Poll, b: Poll): boolean {
  return (
    a.id === b.id &&
    a.question === b.question &&
    a.status === b.status &&
    a.totalVotes === b.totalVotes &&
    a.createdAt === b.createdAt &&
    a.publishAt === b.publishAt &&
    a.publishedAt === b.publishedAt &&
    a.finishedAt === b.finishedAt &&
    sameUser(a.createdBy, b.createdBy) &&
    a.options.length === b.options.length &&
    a.options.every((o, i) => o.text === b.options[i]?.text && o.votes === b.options[i]?.votes)
  );
}
