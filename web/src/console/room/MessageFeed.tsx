import { useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { formatTime } from '../../components/format';
import type { ChatMessage } from '../../chat/types';

const WHEN = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** What the operator can do from a message (through the server API). */
export interface MessageActions {
  remove(message: ChatMessage): Promise<unknown>;
  pin(message: ChatMessage): Promise<unknown>;
  timeout(message: ChatMessage): Promise<unknown>;
  ban(message: ChatMessage): Promise<unknown>;
  purge(message: ChatMessage): Promise<unknown>;
}

interface Props {
  messages: readonly ChatMessage[];
  hasMore: boolean;
  onLoadOlder: () => Promise<unknown>;
  /** The console's own user id: no user actions on its own messages. */
  self: string | null;
  actions: MessageActions;
}

/**
 * The room's messages as they arrive, oldest first, each with the operator's actions; kept
 * scrolled to the newest while the operator has not scrolled up.
 */
export function MessageFeed({ messages, hasMore, onLoadOlder, self, actions }: Props) {
  const box = useRef<HTMLElement>(null);
  const atEnd = useRef(true);
  const newest = messages[messages.length - 1]?.id;
  useLayoutEffect(() => {
    const el = box.current;
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [newest]);
  return (
    <section
      ref={box}
      className="panel console-feed"
      data-testid="console-feed"
      aria-label="Messages"
      onScroll={(e) => {
        const el = e.currentTarget;
        atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      {hasMore && (
        <button
          className="secondary small"
          onClick={() => void onLoadOlder()}
          data-testid="feed-older"
        >
          Load older
        </button>
      )}
      {messages.length === 0 && <p className="muted empty">No messages yet.</p>}
      <ol className="console-messages">
        {messages.map((message) => (
          <FeedItem
            key={message.id}
            message={message}
            userActions={message.user.id !== self && message.user.role !== 'admin'}
            actions={actions}
          />
        ))}
      </ol>
    </section>
  );
}

type Confirmable = 'ban' | 'purge';

const CONFIRM: Record<Confirmable, (name: string) => string> = {
  ban: (name) => `Ban ${name} from writing in this room?`,
  purge: (name) => `Delete every message of ${name} in this room?`,
};

interface ActionProps {
  name: string;
  risky?: boolean;
  disabled: boolean;
  onClick: () => void;
  children: ReactNode;
}

function Action({ name, risky = false, disabled, onClick, children }: ActionProps) {
  return (
    <button
      className={risky ? 'link-button console-risky' : 'link-button'}
      disabled={disabled}
      onClick={onClick}
      data-testid={`act-${name}`}
    >
      {children}
    </button>
  );
}

interface ItemProps {
  message: ChatMessage;
  userActions: boolean;
  actions: MessageActions;
}

function FeedItem({ message, userActions, actions }: ItemProps) {
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState<Confirmable | null>(null);

  async function run(action: (m: ChatMessage) => Promise<unknown>) {
    setBusy(true);
    try {
      await action(message);
    } catch {
      // reported by the room page
    } finally {
      setBusy(false);
      setConfirming(null);
    }
  }

  const marks = [
    message.deleted && 'deleted',
    message.shadow && 'shadow-banned',
    message.hidden && 'hidden by reports',
  ].filter(Boolean);

  return (
    <li
      className={message.deleted ? 'console-message deleted' : 'console-message'}
      data-testid="feed-message"
      data-message-id={message.id}
      data-user-id={message.user.id}
      data-deleted={message.deleted ? 'true' : 'false'}
    >
      <div className="console-message-head">
        <strong>{message.user.username}</strong>
        <span className="muted small">
          {message.user.role !== 'viewer' && `${message.user.role} · `}
          <code>{message.user.id}</code> · {formatTime(WHEN, message.ts)}
        </span>
        {marks.map((mark) => (
          <span key={String(mark)} className="chip" data-testid="feed-mark">
            {mark}
          </span>
        ))}
      </div>
      <p className="console-message-text" data-testid="feed-text">
        {message.deleted ? 'message deleted' : message.text}
      </p>
      {!message.deleted && confirming === null && (
        <div className="console-actions">
          <Action name="delete" disabled={busy} onClick={() => run(actions.remove)}>
            Delete
          </Action>
          <Action name="pin" disabled={busy} onClick={() => run(actions.pin)}>
            Pin
          </Action>
          {userActions && (
            <>
              <Action name="timeout" disabled={busy} onClick={() => run(actions.timeout)}>
                Timeout 10 min
              </Action>
              <Action name="ban" risky disabled={busy} onClick={() => setConfirming('ban')}>
                Ban
              </Action>
              <Action name="purge" risky disabled={busy} onClick={() => setConfirming('purge')}>
                Purge
              </Action>
            </>
          )}
        </div>
      )}
      {confirming !== null && (
        <div className="console-confirm" data-testid="act-confirm-box" data-action={confirming}>
          <span>{CONFIRM[confirming](message.user.username)}</span>
          <button
            className="primary small"
            disabled={busy}
            onClick={() => run(actions[confirming])}
            data-testid="act-confirm"
          >
            {confirming === 'ban' ? 'Ban' : 'Purge'}
          </button>
          <button className="secondary small" onClick={() => setConfirming(null)}>
            Cancel
          </button>
        </div>
      )}
    </li>
  );
}
