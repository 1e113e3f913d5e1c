/**
 * Wire objects built from frames: each `*FromWire` returns a fresh object with exactly the
 * fields of docs/protocol.md (defaults filled in, unknown fields dropped). No I/O.
 * @module
 */
import type { Message, Poll, PollOption, User } from './types.js';

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
  };
  if (typeof d.cid === 'string') message.cid = d.cid;
  if (message.deleted) {
    message.deleted_by = d.deleted_by ? userFromWire(d.deleted_by) : null;
    message.deleted_at = numOrNull(d.deleted_at);
  }
  return message;
}

/** `message` soft-deleted: text removed, who and when recorded. */
export function asDeleted(message: Message, by: User, at: number): Message {
  return { ...message, text: '', deleted: true, deleted_by: by, deleted_at: at };
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
    total_votes:
      typeof d.total_votes === 'number'
        ? d.total_votes
        : options.reduce((sum, o) => sum + o.votes, 0),
    created_by: userFromWire(d.created_by),
    created_at: num(d.created_at),
    publish_at: numOrNull(d.publish_at),
    published_at: numOrNull(d.published_at),
    finished_at: numOrNull(d.finished_at),
  };
  if (typeof d.my_vote === 'number') poll.my_vote = d.my_vote;
  return poll;
}

function sameUser(a: User, b: User): boolean {
  return a.id === b.id && a.username === b.username && a.role === b.role;
}

/** Whether two polls are the same apart from `my_vote` (which pushes do not carry). */
export function samePoll(a: Poll, b: Poll): boolean {
  return (
    a.id === b.id &&
    a.question === b.question &&
    a.status === b.status &&
    a.total_votes === b.total_votes &&
    a.created_at === b.created_at &&
    a.publish_at === b.publish_at &&
    a.published_at === b.published_at &&
    a.finished_at === b.finished_at &&
    sameUser(a.created_by, b.created_by) &&
    a.options.length === b.options.length &&
    a.options.every((o, i) => o.text === b.options[i]?.text && o.votes === b.options[i]?.votes)
  );
}
