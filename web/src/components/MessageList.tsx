import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ChatHeld, ChatMessage } from '../chat/types';
import { formatTime, isoTime } from './format';
import { MessageMenu, type MessageSafety } from './MessageMenu';
import { ModTools, type MessageModeration } from './ModTools';
import { PendingMessages } from './PendingMessages';
import { ReplyIcon, ReplyQuote } from './Replies';
import { StaffMarks } from './StaffMarks';
import { Avatar, RoleTag } from './UserBits';

interface Props {
  messages: readonly ChatMessage[];
  myId: string | null;
  canModerate: boolean;
  hasMore: boolean;
  loading: boolean;
  onLoadOlder: () => void;
  onDelete: (message: ChatMessage) => void;
  /** A moderator's tools on each message (timeout, ban, purge, pin); none for viewers. */
  moderation?: MessageModeration;
  /** Report and mute, on others' messages. */
  safety?: MessageSafety;
  /** This user's own messages the room holds (review, chat delay), after the others. */
  pending?: readonly ChatHeld[];
  /** Start a reply to a message; no Reply action when absent (the user may not write). */
  onReply?: (message: ChatMessage) => void;
  /** Told whether the view follows the newest message (scrolled to the bottom) or not. */
  onFollowChange?: (following: boolean) => void;
}

// Within this many pixels of an edge counts as "at" it.
const EDGE = 48;
// Messages of one author closer together than this are drawn as one group.
const GROUP_MS = 3 * 60 * 1000;
// How long a message shown from a reply's quote stays highlighted.
const FLASH_MS = 1600;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function MessageList(props: Props) {
  const { messages, myId, canModerate, hasMore, loading, onLoadOlder, onDelete, moderation } =
    props;
  const { onReply, onFollowChange, safety, pending = NONE } = props;
  // The message whose moderator tools, or whose menu (report, mute), is open: one at a time.
  const [toolsFor, setToolsFor] = useState<string | null>(null);
  const [menuFor, setMenuFor] = useState<string | null>(null);
  // The message just shown from a reply's quote, highlighted for a moment.
  const [flashed, setFlashed] = useState<string | null>(null);
  const byId = useMemo(() => new Map(messages.map((m) => [m.id, m])), [messages]);
  const scroller = useRef<HTMLDivElement>(null);
  // Where the view was before React changed the list: pinned to the bottom, or this far
  // from it (kept when older messages are put on top, so the view does not jump).
  const atBottom = useRef(true);
  const fromBottom = useRef(0);
  const firstId = useRef<string | null>(null);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = messages[0]?.id ?? null;
    const prepended = firstId.current !== null && first !== firstId.current;
    firstId.current = first;
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    } else if (prepended) {
      el.scrollTop = el.scrollHeight - fromBottom.current;
    }
    fromBottom.current = el.scrollHeight - el.scrollTop;
  }, [messages, pending]);

  // Stay pinned to the newest message when the list's box changes size (a window resize,
  // the composer growing, the layout switching to one column).
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (flashed === null) return;
    const t = setTimeout(() => setFlashed(null), FLASH_MS);
    return () => clearTimeout(t);
  }, [flashed]);

  function jumpTo(id: string) {
    const item = scroller.current?.querySelector(`[data-message-id="${CSS.escape(id)}"]`);
    item?.scrollIntoView({ block: 'center', behavior: 'smooth' });
    setFlashed(id);
  }

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    const following = el.scrollHeight - el.scrollTop - el.clientHeight < EDGE;
    if (following !== atBottom.current) onFollowChange?.(following);
    atBottom.current = following;
    fromBottom.current = el.scrollHeight - el.scrollTop;
    if (el.scrollTop < EDGE && hasMore && !loading) onLoadOlder();
  }

  return (
    <div className="messages" ref={scroller} onScroll={onScroll} data-testid="message-list">
      <div className="history-edge">
        {hasMore ? (
          <button
            type="button"
            className="link-button"
            onClick={onLoadOlder}
            disabled={loading}
            data-testid="load-older"
          >
            {loading ? 'Loading…' : 'Load older messages'}
          </button>
        ) : (
          <span className="muted small" data-testid="history-start">
            {messages.length ? 'Beginning of the conversation' : 'No messages yet — say hello!'}
          </span>
        )}
      </div>
      <ol className="message-items">
        {messages.map((m, i) => {
          const prev = messages[i - 1];
          const grouped =
            prev !== undefined && prev.user.id === m.user.id && m.ts - prev.ts < GROUP_MS;
          const mine = myId !== null && m.user.id === myId;
          const deletable = !m.deleted && (mine || canModerate);
          const moderatable = moderation !== undefined && !m.deleted;
          const toolsOpen = moderatable && toolsFor === m.id;
          const toolsId = `mod-tools-${m.id}`;
          const menuable = safety !== undefined && !m.deleted && !mine;
          const menuOpen = menuable && menuFor === m.id;
          const menuId = `message-menu-${m.id}`;
          const repliable = onReply !== undefined && !m.deleted;
          // The server never lists a message's author among its mentions.
          const mentionsMe = !m.deleted && myId !== null && m.mentions.includes(myId);
          return (
            <li
              key={m.id}
              className={[
                'message',
                mine ? 'mine' : 'theirs',
                grouped ? 'grouped' : '',
                m.deleted ? 'deleted' : '',
                mentionsMe ? 'mentions-me' : '',
                m.shadow ? 'shadow' : '',
                m.hidden ? 'hidden-by-reports' : '',
                flashed === m.id ? 'flash' : '',
              ].join(' ')}
              data-testid="message"
              data-message-id={m.id}
              data-seq={m.seq}
              data-mine={mine ? 'true' : 'false'}
              data-deleted={m.deleted ? 'true' : 'false'}
              data-mentions-me={mentionsMe ? 'true' : 'false'}
              data-reply-to={m.replyTo ?? undefined}
              data-pinned={moderation?.pinnedId === m.id ? 'true' : undefined}
              data-shadow={m.shadow ? 'true' : undefined}
              data-hidden={m.hidden ? 'true' : undefined}
            >
              {!mine && (grouped ? <span className="avatar-space" /> : <Avatar user={m.user} />)}
              <div className="bubble-wrap">
                {!grouped && (
                  <div className="meta">
                    <span className="author" data-testid="message-author">
                      {mine ? 'You' : m.user.username}
                    </span>
                    <RoleTag role={m.user.role} />
                    <time dateTime={isoTime(m.ts)} title={formatTime(fullFormat, m.ts)}>
                      {formatTime(timeFormat, m.ts)}
                    </time>
                  </div>
                )}
                <StaffMarks message={m} />
                {m.replyTo !== null && (
                  <ReplyQuote replyTo={m.replyTo} original={byId.get(m.replyTo)} onJump={jumpTo} />
                )}
                <div className="bubble" title={mentionsMe ? 'Mentions you' : undefined}>
                  {mentionsMe && (
                    <span className="visually-hidden" data-testid="mention-label">
                      mentions you:{' '}
                    </span>
                  )}
                  {m.deleted ? (
                    <span className="deleted-text" data-testid="message-text">
                      message deleted
                      {m.deletedBy && m.deletedBy.id !== m.user.id
                        ? ` by ${m.deletedBy.username}`
                        : ''}
                    </span>
                  ) : (
                    <span className="text" data-testid="message-text">
                      {m.text}
                    </span>
                  )}
                  <span className="message-actions">
                    {repliable && (
                      <button
                        type="button"
                        className="message-action reply-button"
                        onClick={() => onReply(m)}
                        title="Reply"
                        aria-label={`Reply to ${m.user.username}`}
                        data-testid="message-reply"
                      >
                        <ReplyIcon />
                      </button>
                    )}
                    {deletable && (
                      <button
                        type="button"
                        className="message-action delete-button"
                        onClick={() => onDelete(m)}
                        title="Delete message"
                        aria-label="Delete message"
                        data-testid="message-delete"
                      >
                        <TrashIcon />
                      </button>
                    )}
                    {menuable && (
                      <button
                        type="button"
                        className="message-action menu-toggle"
                        onClick={() => {
                          setMenuFor(menuOpen ? null : m.id);
                          setToolsFor(null);
                        }}
                        title="More: report, mute"
                        aria-label={`More actions on ${m.user.username}'s message`}
                        aria-expanded={menuOpen}
                        aria-controls={menuOpen ? menuId : undefined}
                        data-testid="message-menu-toggle"
                      >
                        <MoreIcon />
                      </button>
                    )}
                    {moderatable && (
                      <button
                        type="button"
                        className="message-action mod-toggle"
                        onClick={() => {
                          setToolsFor(toolsOpen ? null : m.id);
                          setMenuFor(null);
                        }}
                        title="Moderate"
                        aria-label={`Moderate ${m.user.username}'s message`}
                        aria-expanded={toolsOpen}
                        aria-controls={toolsOpen ? toolsId : undefined}
                        data-testid="message-mod-toggle"
                      >
                        <ShieldIcon />
                      </button>
                    )}
                  </span>
                </div>
                {toolsOpen && moderation && (
                  <ModTools
                    id={toolsId}
                    message={m}
                    moderation={moderation}
                    onDone={() => setToolsFor(null)}
                  />
                )}
                {menuOpen && safety && (
                  <MessageMenu
                    id={menuId}
                    message={m}
                    safety={safety}
                    onDone={() => setMenuFor(null)}
                  />
                )}
              </div>
            </li>
          );
        })}
        <PendingMessages pending={pending} />
      </ol>
    </div>
  );
}

const NONE: readonly ChatHeld[] = [];

function MoreIcon() {
  return (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path
        fill="currentColor"
        d="M3 6.6a1.4 1.4 0 1 1 0 2.8 1.4 1.4 0 0 1 0-2.8zm5 0a1.4 1.4 0 1 1 0 2.8 1.4 1.4 0 0 1 0-2.8zm5 0a1.4 1.4 0 1 1 0 2.8 1.4 1.4 0 0 1 0-2.8z"
      />
    </svg>
  );
}

function ShieldIcon() {
  return (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path
        fill="currentColor"
        d="M8 1.2 13.5 3v4.3c0 3.3-2.3 6.2-5.5 7.5-3.2-1.3-5.5-4.2-5.5-7.5V3L8 1.2zm0 1.1L3.5 3.8v3.5c0 2.7 1.8 5.1 4.5 6.3 2.7-1.2 4.5-3.6 4.5-6.3V3.8L8 2.3z"
      />
    </svg>
  );
}

function TrashIcon() {
  return (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path
        fill="currentColor"
        d="M6 1.5h4a.5.5 0 0 1 .5.5V3H13a.5.5 0 0 1 0 1h-.6l-.7 9.1A1.5 1.5 0 0 1 10.2 14.5H5.8a1.5 1.5 0 0 1-1.5-1.4L3.6 4H3a.5.5 0 0 1 0-1h2.5V2a.5.5 0 0 1 .5-.5zm.5 1.5h3v-.5h-3V3zM4.6 4l.7 9a.5.5 0 0 0 .5.5h4.4a.5.5 0 0 0 .5-.5l.7-9H4.6z"
      />
    </svg>
  );
}
