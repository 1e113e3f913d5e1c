import { useCallback } from 'react';
import { fetchDemoToken } from '../token';
import { useChat, type ChatSession } from '../chat/useChat';
import { ConnectionBadge } from './ConnectionBadge';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { Notices } from './Notices';
import { PanelBoundary } from './PanelBoundary';
import { PollsPanel } from './PollsPanel';
import { ReactionBar } from './ReactionBar';
import { RoleTag } from './UserBits';

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
  const chat = useChat(session, refreshToken, onFatal);
  const { snapshot } = chat;
  const connected = snapshot.state === 'connected';
  const role = snapshot.user?.role ?? session.role;
  const canModerate = role === 'moderator' || role === 'admin';

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
          <PanelBoundary name="messages">
            <MessageList
              messages={snapshot.messages}
              myId={snapshot.user?.id ?? session.userId}
              canModerate={canModerate}
              hasMore={snapshot.hasMore}
              loading={snapshot.loadingHistory}
              onLoadOlder={() => void chat.loadOlder()}
              onDelete={(m) => void chat.remove(m).catch(() => undefined)}
            />
          </PanelBoundary>
          <PanelBoundary name="reactions">
            <ReactionBar
              types={snapshot.reactionTypes}
              stats={snapshot.reactionsStats}
              bursts={chat.bursts}
              disabled={!connected}
              onReact={(r) => void chat.react(r).catch(() => undefined)}
            />
          </PanelBoundary>
          <Composer disabled={!connected} maxLength={chat.maxMessageChars} onSend={chat.send} />
        </section>
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
  );
}
