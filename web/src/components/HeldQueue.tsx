import { useState, type FormEvent } from 'react';
import type { ChatHeld, HoldReason } from '../chat/types';
import { formatCountdown, formatTime, isoTime } from './format';
import { REASON_MAX } from './MessageMenu';
import { useNow } from './useNow';

interface Props {
  held: readonly ChatHeld[];
  disabled: boolean;
  onApprove: (id: string) => Promise<unknown>;
  onReject: (id: string, reason?: string) => Promise<unknown>;
}

const REASONS: Record<HoldReason, string> = {
  filter: 'word filter',
  hold: 'hold mode',
  delay: 'chat delay',
};

const when = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/**
 * The messages waiting outside the room, oldest first, as pushed to moderators: held by
 * the word filter or hold mode until a moderator approves (the message enters the room
 * now) or rejects it (its sender is told), or by the chat delay until their release time
 * (approved sooner, or rejected, the same way).
 */
export function HeldQueue({ held, disabled, onApprove, onReject }: Props) {
  return (
    <div className="mod-section queue" data-testid="held-queue" data-count={held.length}>
      <h3>
        Held messages <span className="queue-count">{held.length}</span>
      </h3>
      {held.length === 0 ? (
        <p className="muted small" data-testid="held-empty">
          No message is waiting.
        </p>
      ) : (
        <ol className="mod-list">
          {held.map((item) => (
            <HeldItem
              key={item.id}
              item={item}
              disabled={disabled}
              onApprove={onApprove}
              onReject={onReject}
            />
          ))}
        </ol>
      )}
    </div>
  );
}

interface ItemProps {
  item: ChatHeld;
  disabled: boolean;
  onApprove: Props['onApprove'];
  onReject: Props['onReject'];
}

function HeldItem({ item, disabled, onApprove, onReject }: ItemProps) {
  const now = useNow(item.releaseAt);
  const [busy, setBusy] = useState(false);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const off = disabled || busy;

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    try {
      await action();
    } catch {
      // shown as a notice; the item goes if it is no longer held
    } finally {
      setBusy(false);
    }
  }

  function reject(event: FormEvent) {
    event.preventDefault();
    void run(() => onReject(item.id, reason.trim() || undefined));
  }

  return (
    <li
      className="mod-item queue-item"
      data-testid="held-item"
      data-held-id={item.id}
      data-reason={item.reason}
    >
      <div className="queue-meta">
        <strong>{item.user.username}</strong>{' '}
        <time dateTime={isoTime(item.ts)} className="muted small">
          {formatTime(when, item.ts)}
        </time>{' '}
        <span className={`queue-tag reason-${item.reason}`} data-testid="held-reason">
          {REASONS[item.reason]}
          {item.releaseAt !== null &&
            (item.releaseAt > now
              ? ` · released in ${formatCountdown(item.releaseAt - now)}`
              : ' · releasing…')}
        </span>
      </div>
      <p className="queue-text" data-testid="held-text">
        {item.text}
      </p>
      {rejecting ? (
        <form className="queue-actions" onSubmit={reject} data-testid="held-reject-form">
          <input
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            maxLength={REASON_MAX}
            placeholder="Reason for the sender (optional)"
            aria-label="Reason for the sender"
            autoFocus
            data-testid="held-reject-reason"
          />
          <button
            type="submit"
            className="danger small"
            disabled={off}
            data-testid="held-reject-confirm"
          >
            Reject
          </button>
          <button
            type="button"
            className="secondary small"
            disabled={busy}
            onClick={() => setRejecting(false)}
            data-testid="held-reject-cancel"
          >
            Cancel
          </button>
        </form>
      ) : (
        <div className="queue-actions">
          <button
            type="button"
            className="primary small"
            disabled={off}
            onClick={() => void run(() => onApprove(item.id))}
            data-testid="held-approve"
          >
            Approve
          </button>
          <button
            type="button"
            className="secondary small risky"
            disabled={off}
            onClick={() => setRejecting(true)}
            data-testid="held-reject"
          >
            Reject
          </button>
        </div>
      )}
    </li>
  );
}
