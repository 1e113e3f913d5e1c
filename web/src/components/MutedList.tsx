import { useState } from 'react';

interface Props {
  /** The ids of the users this user muted. */
  mutes: readonly string[];
  /** Display names by user id (a muted user's messages are no longer shown). */
  names: ReadonlyMap<string, string>;
  disabled: boolean;
  onUnmute: (userId: string) => Promise<unknown>;
}

/**
 * The users this user muted (kept by the server: the same list on every device), each with
 * Unmute; shown only while there is someone muted.
 */
export function MutedList({ mutes, names, disabled, onUnmute }: Props) {
  const [busy, setBusy] = useState<string | null>(null);
  if (mutes.length === 0) return null;

  async function unmute(userId: string) {
    setBusy(userId);
    try {
      await onUnmute(userId);
    } catch {
      // shown as a notice
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="panel muted-users" data-testid="muted-users" aria-labelledby="muted-title">
      <header className="panel-header">
        <h2 id="muted-title">Muted</h2>
        <span className="queue-count">{mutes.length}</span>
      </header>
      <p className="muted small">You do not see their messages. They are not told.</p>
      <ul className="mod-list">
        {mutes.map((userId) => {
          const name = names.get(userId) ?? userId;
          return (
            <li key={userId} className="mod-item" data-testid="muted-user" data-user-id={userId}>
              <span className="mod-item-main">
                <strong>{name}</strong>
              </span>
              <button
                type="button"
                className="secondary small"
                disabled={disabled || busy !== null}
                onClick={() => void unmute(userId)}
                data-testid="unmute"
                aria-label={`Unmute ${name}`}
              >
                Unmute
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
