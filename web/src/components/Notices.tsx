import type { Notice } from '../chat/types';

interface Props {
  notices: readonly Notice[];
  onDismiss: (id: number) => void;
}

export function Notices({ notices, onDismiss }: Props) {
  return (
    <div className="notices" aria-live="assertive" data-testid="notices">
      {notices.map((n) => (
        <div key={n.id} className={`notice notice-${n.kind}`} role="alert" data-testid="notice">
          <span className="notice-text" data-testid="notice-text">
            {n.text}
          </span>
          {n.count > 1 && <span className="notice-count">×{n.count}</span>}
          <button
            type="button"
            className="icon-button"
            aria-label="Dismiss"
            onClick={() => onDismiss(n.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
