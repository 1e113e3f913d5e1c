/**
 * From the SDK's objects (camelCase: `deletedBy`, `totalVotes`, `myVote`, …) to the view
 * model of `types.ts`.
 */

import type { Message, Poll, User } from 'pchatsdk';
import { isRole } from '../identity';
import type { ChatMessage, ChatPoll, ChatUser, ConnectionState, PollStatus } from './types';

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
