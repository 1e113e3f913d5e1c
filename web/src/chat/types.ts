/**
 * The view model the components render: plain, read-only data. `adapt.ts` builds it from
 * the SDK's objects, so the components do not depend on the SDK's internal shapes.
 */

import type { Role } from '../identity';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface ChatUser {
  readonly id: string;
  readonly username: string;
  readonly role: Role;
}

export interface ChatMessage {
  readonly id: string;
  readonly seq: number;
  /** Server time in ms. */
  readonly ts: number;
  readonly user: ChatUser;
  readonly text: string;
  readonly deleted: boolean;
  readonly deletedBy: ChatUser | null;
  /** The id of the message this one answers; null: not a reply. */
  readonly replyTo: string | null;
  /** The ids of the users the text names as `@username` (never its author). */
  readonly mentions: readonly string[];
  /** Moderators only: a shadow-banned user's message (only its author and the staff see it). */
  readonly shadow: boolean;
  /** Moderators only: hidden from viewers by reports until a moderator decides. */
  readonly hidden: boolean;
}

/** Why a message waits outside the stream: the word filter, hold mode, or the chat delay. */
export type HoldReason = 'filter' | 'hold' | 'delay';

/**
 * A message not in the room yet (docs/moderation.md): held for a moderator's review, or by
 * the chat delay until `releaseAt` (ms; null: it waits for a moderator). Approved or
 * released, it enters the room with the same `id`.
 */
export interface ChatHeld {
  readonly id: string;
  readonly ts: number;
  readonly user: ChatUser;
  readonly text: string;
  readonly reason: HoldReason;
  readonly releaseAt: number | null;
}

/** The open reports of one message, as moderators see them. */
export interface ChatReport {
  readonly message: ChatMessage;
  /** How many users reported it. */
  readonly count: number;
  /** Their reasons: distinct, newest first. */
  readonly reasons: readonly string[];
  /** When last reported (ms). */
  readonly lastTs: number;
  readonly hidden: boolean;
}

export type PollStatus = 'scheduled' | 'open' | 'finished';

export interface ChatPollOption {
  readonly text: string;
  readonly votes: number;
}

export interface ChatPoll {
  readonly id: string;
  readonly question: string;
  readonly options: readonly ChatPollOption[];
  readonly status: PollStatus;
  readonly totalVotes: number;
  readonly createdBy: ChatUser | null;
  readonly createdAt: number | null;
  readonly publishAt: number | null;
  readonly finishedAt: number | null;
  /** The option index this user voted for; null: not voted. */
  readonly myVote: number | null;
}

export interface Notice {
  readonly id: number;
  readonly kind: 'error' | 'info';
  readonly text: string;
  /** How many times in a row this text was reported. */
  readonly count: number;
}

/** One reaction someone just sent, for the floating burst animation. */
export interface ReactionBurst {
  readonly key: number;
  readonly reaction: string;
  readonly username: string;
}

/** Who may write: everyone, moderators only, or viewers only react (docs/moderation.md). */
export type RoomMode = 'open' | 'moderators_only' | 'reactions_only';

/**
 * The room's modes: `slowMode` in seconds (0: off), `maxMessageChars` 0: the server's,
 * `hold` every viewer message waits for a moderator, `delay` the chat delay in seconds
 * (0: off).
 */
export interface ChatRoomSettings {
  readonly slowMode: number;
  readonly uniqueChat: boolean;
  readonly maxMessageChars: number;
  readonly mode: RoomMode;
  readonly hold: boolean;
  readonly delay: number;
}

/** The room's pin: a message, or a moderator's announcement (`message` null, `text` set). */
export interface ChatPin {
  readonly by: ChatUser;
  readonly ts: number;
  readonly message: ChatMessage | null;
  readonly text: string | null;
}

/** A ban or timeout: `until` in ms ends a timeout; null: until a moderator lifts it. */
export interface ChatBan {
  readonly userId: string;
  /** Null when unknown (this user's own ban, as its push tells it). */
  readonly by: ChatUser | null;
  readonly until: number | null;
  readonly reason: string;
  /** A shadow ban: the user writes on, seen only by themselves and the staff. */
  readonly shadow: boolean;
}

/** One entry of the moderation log, newest first in a page. */
export interface ChatModAction {
  readonly id: number;
  readonly action: string;
  readonly by: ChatUser;
  readonly ts: number;
  readonly targetUserId: string | null;
  readonly messageId: string | null;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface ChatModLogPage {
  readonly entries: readonly ChatModAction[];
  readonly hasMore: boolean;
}

export const OPEN_ROOM: ChatRoomSettings = {
  slowMode: 0,
  uniqueChat: false,
  maxMessageChars: 0,
  mode: 'open',
  hold: false,
  delay: 0,
};

export interface ChatSnapshot {
  readonly state: ConnectionState;
  readonly user: ChatUser | null;
  readonly messages: readonly ChatMessage[];
  readonly hasMore: boolean;
  readonly loadingHistory: boolean;
  readonly polls: readonly ChatPoll[];
  /** Whether the room has older (finished) polls than those shown. */
  readonly morePolls: boolean;
  readonly reactionTypes: readonly string[];
  readonly reactionsStats: Readonly<Record<string, number>>;
  readonly online: number;
  readonly roomSettings: ChatRoomSettings;
  readonly pin: ChatPin | null;
  /** This user's own ban or timeout while it acts. */
  readonly myBan: ChatBan | null;
  /** The ids of the users this user muted (kept by the server, on every device). */
  readonly mutes: readonly string[];
  /** A huge, busy room sends viewers one message in `every` (null: every message). */
  readonly sampled: ChatSampled | null;
}

/** The sampling of a busy room: one message in `every`, the room posting `rate` a second. */
export interface ChatSampled {
  readonly every: number;
  readonly rate: number | null;
}

export const DEFAULT_REACTIONS: readonly string[] = [
  'like',
  'love',
  'haha',
  'wow',
  'sad',
  'angry',
  'clap',
  'fire',
];

export const REACTION_EMOJI: Readonly<Record<string, string>> = {
  like: '👍',
  love: '❤️',
  haha: '😂',
  wow: '😮',
  sad: '😢',
  angry: '😠',
  clap: '👏',
  fire: '🔥',
};
