/**
 * Replies in the message list and the composer: the compact quote of the message a reply
 * answers, and the "Replying to" bar above the composer. Text from users is rendered as text.
 */

import type { ChatMessage } from '../chat/types';
import { excerpt } from './format';

/** What a quote shows of a message: its text on one line, or that it was deleted. */
export function quoteOf(message: ChatMessage): string {
  return message.deleted ? 'message deleted' : excerpt(message.text);
}

interface QuoteProps {
  /** The id of the message answered. */
  replyTo: string;
  /** That message, when this client holds it. */
  original: ChatMessage | undefined;
  /** Bring the original into view. */
  onJump: (id: string) => void;
}

/** Above a reply's bubble: who and what it answers; a button that shows the original. */
export function ReplyQuote({ replyTo, original, onJump }: QuoteProps) {
  if (!original) {
    return (
      <span className="reply-quote missing" data-testid="reply-quote" data-reply-to={replyTo}>
        <ReplyIcon />
        <span className="visually-hidden">In reply to </span>
        <span className="reply-quote-text">a message not loaded</span>
      </span>
    );
  }
  return (
    <button
      type="button"
      className="reply-quote"
      onClick={() => onJump(original.id)}
      title="Show the message this answers"
      data-testid="reply-quote"
      data-reply-to={replyTo}
    >
      <ReplyIcon />
      <span className="visually-hidden">In reply to </span>
      <span className="reply-quote-author" data-testid="reply-quote-author">
        {original.user.username}
      </span>
      <span className="reply-quote-text" data-testid="reply-quote-text">
        {quoteOf(original)}
      </span>
    </button>
  );
}

interface BarProps {
  message: ChatMessage;
  onCancel: () => void;
}

/** Above the composer while writing a reply: "Replying to Ann: …", with a cancel ×. */
export function ReplyBar({ message, onCancel }: BarProps) {
  return (
    <div
      className="reply-bar"
      data-testid="reply-bar"
      data-reply-to={message.id}
      role="status"
      aria-live="polite"
    >
      <ReplyIcon />
      <span className="reply-bar-text">
        Replying to <strong data-testid="reply-bar-author">{message.user.username}</strong>:{' '}
        <span data-testid="reply-bar-excerpt">{quoteOf(message)}</span>
      </span>
      <button
        type="button"
        className="icon-button"
        onClick={onCancel}
        aria-label="Cancel reply"
        title="Cancel reply"
        data-testid="reply-cancel"
      >
        ×
      </button>
    </div>
  );
}

export function ReplyIcon() {
  return (
    <svg className="reply-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path
        fill="currentColor"
        d="M6.3 3.2a.5.5 0 0 1 .2.4V5.5c4 .2 7 2.6 7.5 6.9a.5.5 0 0 1-.9.3C11.9 10.9 9.7 10 6.5 9.9v1.9a.5.5 0 0 1-.8.4L1.7 8.6a.5.5 0 0 1 0-.8l4-3.6a.5.5 0 0 1 .6-1z"
      />
    </svg>
  );
}
