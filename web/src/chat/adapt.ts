/**
 * From the SDK's objects (camelCase: `deletedBy`, `replyTo`, `totalVotes`, `myVote`, …) to the view
 * model of `types.ts`.
 */

import type {
  Ban,
  Held,
  Message,
  ModAction,
  Pin,
  Poll,
  Report,
  RoomSettings,
  User,
} from 'pchatsdk';
import { isRole } from '../identity';
import type {
  ChatBan,
  ChatHeld,
  ChatMessage,
  ChatModAction,
  ChatPin,
  ChatPoll,
  ChatReport,
  ChatRoomSettings,
  ChatUser,
  ConnectionState,
  HoldReason,
  PollStatus,
  RoomMode,
} from './types';

export function toUser(user: User): ChatUser {
  return { id: user.id, username: user.username, role: isRole(user.role) ? user.role : 'viewer' };
}

export function toMessage(message: Message): ChatMessage {
  return {
    id: message.id,
    seq: message.seq,
    ts: message.ts,
    user: toUser(message.user),
    text: message.text,
    deleted: message.deleted,
    deletedBy: message.deletedBy ? toUser(message.deletedBy) : null,
    replyTo: message.replyTo ?? null,
    mentions: message.mentions ? [...message.mentions] : [],
    shadow: message.shadow === true,
    hidden: message.hidden === true,
  };
}

function toHoldReason(reason: string): HoldReason {
  return reason === 'filter' || reason === 'delay' ? reason : 'hold';
}

export function toHeld(held: Held): ChatHeld {
  return {
    id: held.id,
    ts: held.ts,
    user: toUser(held.user),
    text: held.text,
    reason: toHoldReason(held.reason),
    releaseAt: typeof held.releaseAt === 'number' ? held.releaseAt : null,
  };
}

export function toReport(report: Report): ChatReport {
  return {
    message: toMessage(report.message),
    count: report.count,
    reasons: [...report.reasons],
    lastTs: report.lastTs,
    hidden: report.hidden,
  };
}

function toStatus(status: string): PollStatus {
  return status === 'scheduled' || status === 'finished' ? status : 'open';
}

export function toPoll(poll: Poll): ChatPoll {
  return {
    id: poll.id,
    question: poll.question,
    options: poll.options.map((o) => ({ text: o.text, votes: o.votes })),
    status: toStatus(poll.status),
    totalVotes: poll.totalVotes,
    createdBy: poll.createdBy.id ? toUser(poll.createdBy) : null,
    createdAt: poll.createdAt || null,
    publishAt: poll.publishAt,
    finishedAt: poll.finishedAt,
    myVote: typeof poll.myVote === 'number' ? poll.myVote : null,
  };
}

function toMode(mode: string): RoomMode {
  return mode === 'moderators_only' || mode === 'reactions_only' ? mode : 'open';
}

/** A whole number of at least 0, whatever the frame carried. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

export function toRoomSettings(settings: RoomSettings): ChatRoomSettings {
  return {
    slowMode: count(settings.slowMode),
    uniqueChat: settings.uniqueChat === true,
    maxMessageChars: count(settings.maxMessageChars),
    mode: toMode(settings.mode),
    hold: settings.hold === true,
    delay: count(settings.delay),
  };
}

export function toPin(pin: Pin): ChatPin {
  return {
    by: toUser(pin.by),
    ts: pin.ts,
    message: pin.message ? toMessage(pin.message) : null,
    text: pin.message ? null : (pin.text ?? ''),
  };
}

export function toBan(ban: Ban): ChatBan {
  return {
    userId: ban.userId,
    // The user's own ban, built from its push, has an empty `by`: unknown.
    by: ban.by.id ? toUser(ban.by) : null,
    until: typeof ban.until === 'number' ? ban.until : null,
    reason: ban.reason,
    shadow: ban.shadow === true,
  };
}

export function toModAction(action: ModAction): ChatModAction {
  return {
    id: action.id,
    action: action.action,
    by: toUser(action.by),
    ts: action.ts,
    targetUserId: action.targetUserId,
    messageId: action.messageId,
    reason: action.reason,
    details: action.details,
  };
}

export function toState(state: string): ConnectionState {
  switch (state) {
    case 'connecting':
    case 'connected':
    case 'reconnecting':
      return state;
    default:
      return 'disconnected';
  }
}

/** The text to show for anything thrown or reported: the server's own error text. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
