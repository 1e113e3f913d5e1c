import { useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChatMessage, ChatUser } from '../chat/types';

/** What anyone can do about someone else's message (docs/moderation.md: reports, mutes). */
export interface MessageSafety {
  /** Report `message` to the room's moderators, with an optional reason. */
  report: (message: ChatMessage, reason: string) => Promise<unknown>;
  /** Stop receiving `user`'s messages, on every device. */
  mute: (user: ChatUser) => Promise<unknown>;
  /** The messages this user reported here (a message is reported once). */
  reported: ReadonlySet<string>;
}

/** The longest report reason the server takes. */
export const REASON_MAX = 200;

interface Props {
  id: string;
  message: ChatMessage;
  safety: MessageSafety;
  onDone: () => void;
}

/**
 * The actions on someone else's message, under it when its "More" button is pressed:
 * Report (with an optional reason, asked inline) and Mute its author.
 */
export function MessageMenu({ id, message, safety, onDone }: Props) {
  const [reporting, setReporting] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const name = message.user.username;
  const reported = safety.reported.has(message.id);

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    try {
      await action();
      onDone();
    } catch {
      // shown as a notice by the chat controller; the menu stays open
    } finally {
      setBusy(false);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLElement>) {
    if (event.key !== 'Escape') return;
    event.stopPropagation();
    if (reporting) setReporting(false);
    else onDone();
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    void run(() => safety.report(message, reason.trim()));
  }

  if (reporting) {
    return (
      <form
        id={id}
        className="mod-tools confirming report-form"
        aria-label={`Report ${name}'s message`}
        data-testid="report-form"
        onSubmit={submit}
        onKeyDown={onKeyDown}
      >
        <label className="report-reason">
          <span>Why? (optional)</span>
          <input
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            maxLength={REASON_MAX}
            placeholder="spam, abuse, …"
            autoFocus
            data-testid="report-reason"
          />
        </label>
        <button type="submit" className="danger small" disabled={busy} data-testid="report-send">
          Report
        </button>
        <button
          type="button"
          className="secondary small"
          disabled={busy}
          onClick={() => setReporting(false)}
          data-testid="report-cancel"
        >
          Cancel
        </button>
      </form>
    );
  }

  return (
    <div
      id={id}
      className="mod-tools"
      role="group"
      aria-label={`Actions on ${name}'s message`}
      data-testid="message-menu"
      onKeyDown={onKeyDown}
    >
      <button
        type="button"
        className="secondary small"
        disabled={busy || reported}
        onClick={() => setReporting(true)}
        data-testid="message-report"
      >
        {reported ? 'Reported' : 'Report'}
      </button>
      <button
        type="button"
        className="secondary small"
        disabled={busy}
        onClick={() => void run(() => safety.mute(message.user))}
        data-testid="message-mute"
        title={`Stop seeing ${name}'s messages, on every device`}
      >
        Mute {name}
      </button>
    </div>
  );
}
