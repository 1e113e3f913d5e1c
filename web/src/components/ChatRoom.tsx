import { useCallback, useMemo, useRef, useState } from 'react';
import type { Role } from '../identity';
import { fetchDemoToken } from '../token';
import { useChat, type ChatSession } from '../chat/useChat';
import { useNames } from '../chat/useNames';
import { usePending } from '../chat/usePending';
import { useQueues } from '../chat/useQueues';
import { useSafety } from '../chat/useSafety';
import type { ChatMessage, ChatUser } from '../chat/types';
import { ConnectionBadge } from './ConnectionBadge';
import { MessageList } from './MessageList';
import { ModerationPanel } from './ModerationPanel';
import { TIMEOUT_SECONDS, type MessageModeration } from './ModTools';
import { MutedList } from './MutedList';
import { Notices } from './Notices';
import { PinnedBanner } from './PinnedBanner';
import { SampledNotice } from './SampledNotice';
import { PanelBoundary } from './PanelBoundary';
import { PollsPanel } from './PollsPanel';
import { ReactionBar } from './ReactionBar';
import { ReviewPanel } from './ReviewPanel';
import { RoleTag } from './UserBits';
import { WriteArea, mayWrite } from './WriteArea';

const RANK: Record<Role, number> = { viewer: 0, moderator: 1, admin: 2 };

interface Props {
  session: ChatSession;
  onLeave: () => void;
  /** Join again with a new token (after the server closed the session for good). */
  onRejoin: () => void;
  onFatal: (message: string) => void;
}

export function ChatRoom({ session, onLeave, onRejoin, onFatal }: Props) {
  const refreshToken = useCallback(
    () => fetchDemoToken(session.userId, session.role),
    [session.userId, session.role],
  );
  // Whether the message list follows the newest message: a mention arriving then is seen.
  const following = useRef(true);
  const mentionInView = useCallback(() => following.current, []);
  const chat = useChat(session, refreshToken, onFatal, mentionInView);
  const { snapshot } = chat;
  // The message the next one answers (the Reply action), as the list now holds it.
  const [replyTarget, setReplyTarget] = useState<ChatMessage | null>(null);
  const replyingTo = replyTarget
    ? (snapshot.messages.find((m) => m.id === replyTarget.id) ?? replyTarget)
    : null;
  const connected = snapshot.state === 'connected';
  const role = snapshot.user?.role ?? session.role;
  const canModerate = role === 'moderator' || role === 'admin';
  const myId = snapshot.user?.id ?? session.userId;
  const { roomSettings, pin, myBan } = snapshot;
  // Viewers: reactions are refused while banned or in moderators-only mode.
  const mayReact = canModerate || (myBan === null && roomSettings.mode !== 'moderators_only');
  const writable = mayWrite({
    exempt: canModerate,
    settings: roomSettings,
    myBan,
    removed: chat.removed,
  });

  const pending = usePending(chat);
  const queues = useQueues(chat, canModerate);
  const safety = useSafety(chat);
  const { send } = pending;
  const sendMessage = useCallback(
    async (text: string) => {
      const replyTo = replyingTo?.id;
      const message = await send(text, replyTo);
      // Sent: the reply is done (unless another one was started meanwhile).
      setReplyTarget((target) => (target?.id === replyTo ? null : target));
      return message;
    },
    [send, replyingTo?.id],
  );

  // Names by user id, for the moderation panel and the muted list (they carry ids).
  const users = useMemo(
    () => [
      ...snapshot.messages.map((m) => m.user),
      ...queues.held.map((h) => h.user),
      ...queues.reports.map((r) => r.message.user),
    ],
    [snapshot.messages, queues.held, queues.reports],
  );
  const names = useNames(users);

  const moderation: MessageModeration | undefined = canModerate
    ? {
        // Nobody acts on an equal or higher role (the server refuses it too).
        canActOn: (user: ChatUser) => user.id !== myId && RANK[user.role] < RANK[role],
        pinnedId: pin?.message?.id ?? null,
        timeout: (user) => chat.timeout(user, TIMEOUT_SECONDS),
        ban: (user, options) => chat.ban(user, options),
        shadowBan: (user) => chat.shadowBan(user),
        purge: (user) => chat.purge(user),
        pin: (message) => chat.pinMessage(message),
      }
    : undefined;

  return (
    <div className="app">
      <header className="topbar">
        <div className="room-title">
          <span className="brand-mark small" aria-hidden="true" />
          <h1>
            <span className="hash">#</span>
            <span data-testid="room-name">{session.room}</span>
          </h1>
          <span className="online" data-testid="online-count" data-online={snapshot.online}>
            <span className="online-dot" aria-hidden="true" />
            {snapshot.online} online
          </span>
        </div>
        <div className="topbar-right">
          <ConnectionBadge state={snapshot.state} />
          {snapshot.state === 'disconnected' && (
            <button type="button" className="primary small" onClick={onRejoin} data-testid="rejoin">
              Rejoin
            </button>
          )}
          <span className="me" data-testid="me">
            <span data-testid="me-name">{session.username}</span>
            <RoleTag role={role} />
          </span>
          <button type="button" className="secondary small" onClick={onLeave} data-testid="leave">
            Leave
          </button>
        </div>
      </header>

      <Notices notices={chat.notices} onDismiss={chat.dismiss} />

      <div className="layout">
        <section className="panel chat" aria-label="Chat">
          {pin && (
            <PanelBoundary name="pin">
              <PinnedBanner pin={pin} canModerate={canModerate} onUnpin={chat.unpin} />
            </PanelBoundary>
          )}
          {snapshot.sampled && (
            <SampledNotice
              sampled={snapshot.sampled}
              staff={canModerate}
            />
          )}
          <PanelBoundary name="messages">
            <MessageList
              messages={snapshot.messages}
              myId={myId}
              canModerate={canModerate}
              moderation={moderation}
              safety={safety}
              pending={pending.pending}
              hasMore={snapshot.hasMore}
              loading={snapshot.loadingHistory}
              onLoadOlder={() => void chat.loadOlder()}
              onDelete={(m) => void chat.remove(m).catch(() => undefined)}
              onReply={writable ? setReplyTarget : undefined}
              onFollowChange={(value) => {
                following.current = value;
              }}
            />
          </PanelBoundary>
          <PanelBoundary name="reactions">
            <ReactionBar
              types={snapshot.reactionTypes}
              stats={snapshot.reactionsStats}
              bursts={chat.bursts}
              disabled={!connected || !mayReact}
              onReact={(r) => void chat.react(r).catch(() => undefined)}
            />
          </PanelBoundary>
          <WriteArea
            connected={connected}
            exempt={canModerate}
            settings={roomSettings}
            myBan={myBan}
            heldUntil={chat.heldUntil}
            removed={chat.removed}
            maxLength={chat.maxMessageChars}
            onSend={sendMessage}
            replyingTo={replyingTo}
            onCancelReply={() => setReplyTarget(null)}
          />
        </section>
        <div className="side">
          {canModerate && (
            <PanelBoundary name="review">
              <ReviewPanel queues={queues} disabled={!connected} />
            </PanelBoundary>
          )}
          <PanelBoundary name="muted users">
            <MutedList
              mutes={snapshot.mutes}
              names={names}
              disabled={!connected}
              onUnmute={chat.unmute}
            />
          </PanelBoundary>
          {canModerate && (
            <PanelBoundary name="moderation tools">
              <ModerationPanel
                settings={roomSettings}
                disabled={!connected}
                names={names}
                version={chat.modVersion}
                maxAnnouncementChars={chat.maxMessageChars}
                onSetMode={chat.setRoomMode}
                onPinAnnouncement={chat.pinAnnouncement}
                onUnban={chat.unban}
                getBans={chat.getBans}
                getModLog={chat.getModLog}
              />
            </PanelBoundary>
          )}
          <PanelBoundary name="polls">
            <PollsPanel
              polls={snapshot.polls}
              hasOlder={snapshot.morePolls}
              onLoadOlder={chat.loadOlderPolls}
              canModerate={canModerate}
              disabled={!connected}
              onCreate={chat.createPoll}
              onVote={chat.vote}
              onFinish={chat.finish}
            />
          </PanelBoundary>
        </div>
      </div>
    </div>
  );
}
