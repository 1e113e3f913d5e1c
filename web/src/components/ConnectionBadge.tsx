import type { ConnectionState } from '../chat/types';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  disconnected: 'disconnected',
};

export function ConnectionBadge({ state }: { state: ConnectionState }) {
  return (
    <span
      className={`badge badge-${state}`}
      data-testid="connection-state"
      data-state={state}
      role="status"
      aria-live="polite"
    >
      <span className="dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
