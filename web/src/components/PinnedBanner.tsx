import { useState } from 'react';
import type { ChatPin } from '../chat/types';

interface Props {
  pin: ChatPin;
  canModerate: boolean;
  onUnpin: () => Promise<unknown>;
}

/** The room's pinned message or announcement, at the top of the chat; moderators unpin it. */
export function PinnedBanner({ pin, canModerate, onUnpin }: Props) {
  const [busy, setBusy] = useState(false);
  const message = pin.message;
  const kind = message ? 'message' : 'announcement';

  async function unpin() {
    setBusy(true);
    try {
      await onUnpin();
    } catch {
      // shown as a notice by the chat controller
    } finally {
      setBusy(false);
    }
  }

  return (
    <div
      className={`pinned pinned-${kind}`}
      role="region"
      aria-label="Pinned"
      data-testid="pinned-banner"
      data-kind={kind}
      data-message-id={message?.id ?? ''}
    >
      <PinIcon />
      <div className="pinned-body">
        <span className="pinned-label">
          {message
            ? `Pinned message from ${message.user.username}`
            : `Announcement from ${pin.by.username}`}
        </span>
        <span className="pinned-text" data-testid="pinned-text">
          {message ? (message.deleted ? 'message deleted' : message.text) : pin.text}
        </span>
      </div>
      {canModerate && (
        <button
          type="button"
          className="secondary small"
          onClick={() => void unpin()}
          disabled={busy}
          data-testid="unpin"
        >
          Unpin
        </button>
      )}
    </div>
  );
}

function PinIcon() {
  return (
    <svg className="pin-icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
      <path
        fill="currentColor"
        d="M10.3 1.3a1 1 0 0 1 1.4 0l3 3a1 1 0 0 1 0 1.4l-.7.7a1 1 0 0 1-1 .25l-2.2 2.2.3 2.6a1 1 0 0 1-.3.8l-.6.6a.5.5 0 0 1-.7 0L7 10.4l-3.6 3.6a.5.5 0 0 1-.7-.7L6.3 9.7 3.8 7.2a.5.5 0 0 1 0-.7l.6-.6a1 1 0 0 1 .8-.3l2.6.3 2.2-2.2a1 1 0 0 1 .25-1z"
      />
    </svg>
  );
}
