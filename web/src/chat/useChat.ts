/**
 * The chat controller: one SDK client per joined session, its events turned into React
 * state. The SDK is the source of truth (messages, polls, statistics, online count); after
 * each event the hook takes a fresh snapshot of what the SDK holds.
 *
 * A live message that mentions this user (MENTION) is told as a notice when the user would
 * not see it arrive: out of view (`mentionInView`), or, in a hidden tab, once the tab is
 * shown again.
 */

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { CloseCode, Events, PChatSDK, RateLimitedError, type Held, type Message } from 'pchatsdk';
import type { Role } from '../identity';
import {
  errorText,
  toBan,
  toMessage,
  toModAction,
  toPin,
  toPoll,
  toRoomSettings,
  toState,
  toUser,
} from './adapt';
import {
  DEFAULT_REACTIONS,
  OPEN_ROOM,
  type ChatBan,
  type ChatMessage,
  type ChatModLogPage,
  type ChatPoll,
  type ChatRoomSettings,
  type ChatSnapshot,
  type ChatUser,
  type Notice,
  type ReactionBurst,
} from './types';

export interface ChatSession {
  readonly room: string;
  readonly username: string;
  readonly role: Role;
  readonly userId: string;
  readonly token: string;
}

export interface ChatController {
  /** The SDK client of this session (null before the first render's effect ran). */
  readonly client: PChatSDK | null;
  readonly snapshot: ChatSnapshot;
  readonly notices: readonly Notice[];
  readonly bursts: readonly ReactionBurst[];
  readonly maxMessageChars: number;
  /** Until when (ms) slow mode or a rate limit holds this user's next message; null: not held. */
  readonly heldUntil: number | null;
  /** A moderator closed this user's connection (close 4506): they were removed from the room. */
  readonly removed: boolean;
  /** Grows with each moderation action this client made (to refresh the bans and the log). */
  readonly modVersion: number;
  dismiss(id: number): void;
  /** Show a notice (errors by default). */
  notify(text: string, kind?: Notice['kind']): void;
  /** Run a call of the client: a failure is shown as a notice (and rejects), then a snapshot. */
  run<T>(action: (client: PChatSDK) => Promise<T>): Promise<T>;
  /**
   * Send `text`, as a reply to the message `replyTo` (an id) when given: resolves with the
   * stored message, or with a Held one when the room holds it (see usePending).
   */
  send(text: string, replyTo?: string): Promise<Message | Held>;
  remove(message: ChatMessage): Promise<unknown>;
  react(reaction: string): Promise<unknown>;
  createPoll(question: string, options: string[], publishAt?: Date): Promise<unknown>;
  vote(poll: ChatPoll, option: number): Promise<unknown>;
  finish(poll: ChatPoll): Promise<unknown>;
  loadOlder(): Promise<unknown>;
  loadOlderPolls(): Promise<unknown>;
  // Moderators and admins (docs/moderation.md):
  timeout(user: ChatUser, seconds: number): Promise<unknown>;
  ban(user: ChatUser, options?: { kick?: boolean }): Promise<unknown>;
  /** A shadow ban: the user writes on, but only they and the staff see their new messages. */
  shadowBan(user: ChatUser): Promise<unknown>;
  unban(userId: string): Promise<unknown>;
  purge(user: ChatUser): Promise<unknown>;
  pinMessage(message: ChatMessage): Promise<unknown>;
  pinAnnouncement(text: string): Promise<unknown>;
  unpin(): Promise<unknown>;
  setRoomMode(changes: Partial<ChatRoomSettings>): Promise<unknown>;
  getBans(): Promise<ChatBan[]>;
  getModLog(before?: number): Promise<ChatModLogPage>;
  // Everyone (docs/moderation.md: personal mutes, reports):
  mute(user: ChatUser): Promise<unknown>;
  unmute(userId: string): Promise<unknown>;
  report(message: ChatMessage, reason?: string): Promise<unknown>;
}

/** How many moderation log entries a page shows. */
export const MOD_LOG_PAGE = 10;

const NOTICE_MS = 8000;
const BURST_MS = 1600;
const MAX_BURSTS = 24;
const MAX_MESSAGE_CHARS = 2000;

const EMPTY: ChatSnapshot = {
  state: 'connecting',
  user: null,
  messages: [],
  hasMore: false,
  loadingHistory: false,
  polls: [],
  morePolls: false,
  reactionTypes: DEFAULT_REACTIONS,
  reactionsStats: {},
  online: 0,
  roomSettings: OPEN_ROOM,
  pin: null,
  myBan: null,
  mutes: [],
  sampled: null,
};

function snapshotOf(sdk: PChatSDK, loadingHistory: boolean): ChatSnapshot {
  const types = sdk.reactionTypes;
  return {
    state: toState(sdk.state),
    user: sdk.user ? toUser(sdk.user) : null,
    messages: sdk.messages.map(toMessage),
    hasMore: sdk.hasMoreHistory,
    loadingHistory,
    polls: sdk.polls.map(toPoll),
    morePolls: sdk.hasMorePolls,
    reactionTypes: types.length ? [...types] : DEFAULT_REACTIONS,
    reactionsStats: { ...sdk.reactionsStats },
    online: sdk.online,
    roomSettings: toRoomSettings(sdk.roomSettings),
    pin: sdk.pin ? toPin(sdk.pin) : null,
    myBan: sdk.myBan ? toBan(sdk.myBan) : null,
    mutes: sdk.mutes,
    sampled: sdk.sampled ? { every: sdk.sampled.every, rate: sdk.sampled.rate } : null,
  };
}

/** Whether room modes act on this client's messages (moderators and admins are exempt). */
function bound(sdk: PChatSDK): boolean {
  const role = sdk.user?.role;
  return role !== 'moderator' && role !== 'admin';
}

/** The notice for mentions the user did not see arrive: who, and how many when several. */
export function mentionText(mentions: readonly ChatMessage[]): string {
  const names = [...new Set(mentions.map((m) => m.user.username))];
  const who = names.length ? ` by ${names.join(', ')}` : '';
  return mentions.length > 1
    ? `You were mentioned ${mentions.length} times${who}`
    : `You were mentioned${who}`;
}

/**
 * Connects to `session.room` while mounted. `onFatal` is called when the first connect
 * fails (bad name, refused token …), with the server's error text. `mentionInView` tells
 * whether a message that just arrived is in view (by default: yes).
 */
export function useChat(
  session: ChatSession,
  refreshToken: () => Promise<string>,
  onFatal: (message: string) => void,
  mentionInView: (message: ChatMessage) => boolean = () => true,
): ChatController {
  const [sdk, setSdk] = useState<PChatSDK | null>(null);
  const [snapshot, setSnapshot] = useState<ChatSnapshot>(EMPTY);
  const [notices, setNotices] = useState<Notice[]>([]);
  const [bursts, setBursts] = useState<ReactionBurst[]>([]);
  const [heldUntil, setHeldUntil] = useState<number | null>(null);
  const [removed, setRemoved] = useState(false);
  const [modVersion, setModVersion] = useState(0);
  const loading = useRef(false);
  const counter = useRef(0);
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());
  // Kept in refs so the connection effect depends on the session only.
  const refreshRef = useRef(refreshToken);
  const fatalRef = useRef(onFatal);
  const inViewRef = useRef(mentionInView);
  refreshRef.current = refreshToken;
  fatalRef.current = onFatal;
  inViewRef.current = mentionInView;

  const later = useCallback((fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.current.delete(t);
      fn();
    }, ms);
    timers.current.add(t);
  }, []);

  const dismiss = useCallback((id: number) => {
    setNotices((list) => list.filter((n) => n.id !== id));
  }, []);

  const notify = useCallback(
    (text: string, kind: Notice['kind'] = 'error') => {
      const id = ++counter.current;
      setNotices((list) => {
        // The same report again (e.g. "slow down" while clicking fast): count, don't stack.
        const last = list[list.length - 1];
        if (last && last.text === text && last.kind === kind) {
          return [...list.slice(0, -1), { id, kind, text, count: last.count + 1 }];
        }
        return [...list.slice(-3), { id, kind, text, count: 1 }];
      });
      later(() => dismiss(id), NOTICE_MS);
    },
    [dismiss, later],
  );

  useEffect(() => {
    const client = new PChatSDK({ tokenRefresher: () => refreshRef.current() });
    let active = true;
    const refresh = () => {
      if (active) setSnapshot(snapshotOf(client, loading.current));
    };
    client.on(
      [
        Events.CONNECT,
        Events.DISCONNECT,
        Events.MESSAGE,
        Events.MESSAGE_DELETE,
        Events.REACTIONS_STATS,
        Events.POLL,
        Events.HISTORY_LOAD,
        Events.STATE_CHANGE,
        Events.ONLINE,
        Events.ROOM_SETTINGS,
        Events.PIN,
        Events.BANNED,
        Events.UNBANNED,
        Events.PURGE,
        Events.MESSAGE_HIDDEN,
        Events.MESSAGE_RESTORED,
        Events.MUTED,
        Events.UNMUTED,
        Events.SAMPLED,
      ],
      refresh,
    );
    client.on(Events.DISCONNECT, (event) => {
      if (active && event.code === CloseCode.KICKED) setRemoved(true);
    });
    client.on(Events.ERROR, (error) => {
      if (active) notify(errorText(error));
    });
    client.on(Events.REACTION, (event) => {
      if (!active) return;
      const key = ++counter.current;
      setBursts((list) => [
        ...list.slice(-MAX_BURSTS + 1),
        { key, reaction: event.reaction, username: event.user.username },
      ]);
      later(() => setBursts((list) => list.filter((b) => b.key !== key)), BURST_MS);
      refresh();
    });
    // Mentions that came while the tab was hidden, told together when it is shown again.
    let away: ChatMessage[] = [];
    client.on(Events.MENTION, (message) => {
      if (!active) return;
      const mention = toMessage(message);
      if (document.visibilityState === 'hidden') away.push(mention);
      else if (!inViewRef.current(mention)) notify(mentionText([mention]), 'info');
    });
    const onVisibility = () => {
      if (!active || document.visibilityState === 'hidden' || away.length === 0) return;
      notify(mentionText(away), 'info');
      away = [];
    };
    document.addEventListener('visibilitychange', onVisibility);
    client.on(Events.CONNECT, (event) => {
      if (active && event.recovered === false) {
        notify('Reconnected: too much was missed, the latest messages were reloaded.', 'info');
      }
    });

    setSdk(client);
    client
      .connect(session.room, session.username, session.token, { role: session.role })
      .then(async () => {
        refresh();
        loading.current = true;
        refresh();
        try {
          await client.loadHistory();
        } finally {
          loading.current = false;
          refresh();
        }
      })
      .catch((error: unknown) => {
        if (active) fatalRef.current(errorText(error));
      });

    const pending = timers.current;
    return () => {
      active = false;
      document.removeEventListener('visibilitychange', onVisibility);
      client.removeAllListeners();
      void client.disconnect();
      for (const t of pending) clearTimeout(t);
      pending.clear();
    };
  }, [session, notify, later]);

  // Every action reports its failure as a notice and rejects, so a form can keep its input.
  const act = useCallback(
    async <T>(action: (client: PChatSDK) => Promise<T>): Promise<T> => {
      if (!sdk) throw new Error('not connected');
      try {
        return await action(sdk);
      } catch (error) {
        notify(errorText(error));
        throw error;
      } finally {
        setSnapshot(snapshotOf(sdk, loading.current));
      }
    },
    [sdk, notify],
  );

  const loadOlder = useCallback(async () => {
    if (!sdk || loading.current || !sdk.hasMoreHistory) return;
    loading.current = true;
    setSnapshot(snapshotOf(sdk, true));
    try {
      await sdk.loadHistory();
    } catch (error) {
      notify(errorText(error));
    } finally {
      loading.current = false;
      setSnapshot(snapshotOf(sdk, false));
    }
  }, [sdk, notify]);

  const loadOlderPolls = useCallback(async () => {
    if (!sdk || !sdk.hasMorePolls) return;
    // The server pages by creation time, then id: ask for those before the oldest held.
    const oldest = sdk.polls.reduce<(typeof sdk.polls)[number] | undefined>(
      (min, p) =>
        !min || p.createdAt < min.createdAt || (p.createdAt === min.createdAt && p.id < min.id)
          ? p
          : min,
      undefined,
    );
    try {
      await sdk.getPolls(oldest ? { before: oldest.id } : {});
    } catch (error) {
      notify(errorText(error));
    } finally {
      setSnapshot(snapshotOf(sdk, loading.current));
    }
  }, [sdk, notify]);

  const send = useCallback(
    async (text: string, replyTo?: string) => {
      if (!sdk) throw new Error('not connected');
      try {
        const message = await act((c) => c.sendMessage(text, replyTo ? { replyTo } : {}));
        const slow = sdk.roomSettings.slowMode;
        if (slow > 0 && bound(sdk)) setHeldUntil(Date.now() + slow * 1000);
        return message;
      } catch (error) {
        // Slow mode (or the rate limit) says how long to wait: hold the composer that long.
        if (error instanceof RateLimitedError && error.retryAfterMs !== null) {
          setHeldUntil(Date.now() + error.retryAfterMs);
        }
        throw error;
      }
    },
    [sdk, act],
  );

  // A moderation action: reported like any action, then the bans and the log refresh.
  const moderate = useCallback(
    async <T>(action: (client: PChatSDK) => Promise<T>): Promise<T> => {
      try {
        return await act(action);
      } finally {
        setModVersion((v) => v + 1);
      }
    },
    [act],
  );

  // Reads for the moderation panel; kept stable so its fetch effects run only when asked.
  const getBans = useCallback(() => act(async (c) => (await c.getBans()).map(toBan)), [act]);
  const getModLog = useCallback(
    (before?: number) =>
      act(async (c) => {
        const page = await c.getModLog({ before, limit: MOD_LOG_PAGE });
        return { entries: page.entries.map(toModAction), hasMore: page.hasMore };
      }),
    [act],
  );

  return useMemo(
    () => ({
      client: sdk,
      snapshot,
      notices,
      bursts,
      heldUntil,
      removed,
      modVersion,
      // The server's default (the SDK does not expose the connect reply's limits), or the
      // room's own limit when it is lower.
      maxMessageChars:
        snapshot.roomSettings.maxMessageChars > 0
          ? Math.min(snapshot.roomSettings.maxMessageChars, MAX_MESSAGE_CHARS)
          : MAX_MESSAGE_CHARS,
      dismiss,
      notify,
      run: act,
      loadOlder,
      loadOlderPolls,
      send,
      remove: (message: ChatMessage) => act((c) => c.deleteMessage(message.id)),
      react: (reaction: string) => act((c) => c.sendReaction(reaction)),
      createPoll: (question: string, options: string[], publishAt?: Date) =>
        act((c) => c.createPoll(question, options, publishAt)),
      vote: (poll: ChatPoll, option: number) => act((c) => c.vote(poll.id, option)),
      finish: (poll: ChatPoll) => act((c) => c.finishPoll(poll.id)),
      timeout: (user: ChatUser, seconds: number) =>
        moderate((c) => c.ban(user.id, { durationSeconds: seconds })),
      ban: (user: ChatUser, options: { kick?: boolean } = {}) =>
        moderate((c) => c.ban(user.id, { kick: options.kick === true })),
      shadowBan: (user: ChatUser) => moderate((c) => c.ban(user.id, { shadow: true })),
      unban: (userId: string) => moderate((c) => c.unban(userId)),
      purge: (user: ChatUser) => moderate((c) => c.purge(user.id)),
      pinMessage: (message: ChatMessage) => moderate((c) => c.pinMessage(message.id)),
      pinAnnouncement: (text: string) => moderate((c) => c.pinAnnouncement(text)),
      unpin: () => moderate((c) => c.unpin()),
      setRoomMode: (changes: Partial<ChatRoomSettings>) => moderate((c) => c.setRoomMode(changes)),
      getBans,
      getModLog,
      mute: (user: ChatUser) => act((c) => c.mute(user.id)),
      unmute: (userId: string) => act((c) => c.unmute(userId)),
      report: (message: ChatMessage, reason?: string) =>
        act((c) => c.report(message.id, reason ? { reason } : {})),
    }),
    [
      sdk,
      snapshot,
      notices,
      bursts,
      heldUntil,
      removed,
      modVersion,
      dismiss,
      notify,
      loadOlder,
      loadOlderPolls,
      act,
      send,
      moderate,
      getBans,
      getModLog,
    ],
  );
}
