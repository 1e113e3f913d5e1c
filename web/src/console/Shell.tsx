import { useState, type ReactNode } from 'react';
import type { Who } from './types';
import { routeHref, type Route } from './useHashRoute';

interface Props {
  who: Who;
  route: Route;
  onSignOut: () => Promise<void>;
  children: ReactNode;
}

const NAV: readonly { page: 'rooms' | 'keys' | 'webhooks'; label: string }[] = [
  { page: 'rooms', label: 'Rooms' },
  { page: 'keys', label: 'API keys' },
  { page: 'webhooks', label: 'Webhooks' },
];

/** The console's frame: its pages, who is signed in, and sign-out. */
export function Shell({ who, route, onSignOut, children }: Props) {
  const [busy, setBusy] = useState(false);
  const current = route.page === 'room' ? 'rooms' : route.page;
  return (
    <div className="console">
      <header className="console-header">
        <span className="brand-mark small" aria-hidden="true" />
        <strong>pchat console</strong>
        <nav className="console-nav">
          {NAV.map(({ page, label }) => (
            <a
              key={page}
              href={routeHref({ page })}
              aria-current={current === page ? 'page' : undefined}
              data-testid={`nav-${page}`}
            >
              {label}
            </a>
          ))}
        </nav>
        <span className="console-who muted small" data-testid="console-operator">
          {who.via === 'api_key' ? `API key ${who.operator}` : who.operator}
        </span>
        <button
          className="secondary small"
          data-testid="signout"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void onSignOut().finally(() => setBusy(false));
          }}
        >
          Sign out
        </button>
      </header>
      <main className="console-main">{children}</main>
    </div>
  );
}
