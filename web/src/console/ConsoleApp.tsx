import { useCallback, useEffect, useMemo, useState } from 'react';
import { errorText } from '../chat/adapt';
import { ConsoleApi } from './api';
import { KeysPage } from './KeysPage';
import { RoomsPage } from './RoomsPage';
import { Shell } from './Shell';
import { SignIn } from './SignIn';
import { RoomPage } from './room/RoomPage';
import { WebhooksPage } from './webhooks/WebhooksPage';
import type { Who } from './types';
import { useHashRoute } from './useHashRoute';

type Session =
  | { readonly state: 'checking' }
  | { readonly state: 'signed-out'; readonly message: string | null }
  | { readonly state: 'signed-in'; readonly who: Who };

/**
 * The admin console: asks the server who is signed in (the session cookie is HttpOnly: the
 * page cannot read it), then shows the sign-in form or the pages. A call that finds the
 * session gone (expired, signed out elsewhere) brings the sign-in form back, with why.
 */
export function ConsoleApp() {
  const [session, setSession] = useState<Session>({ state: 'checking' });
  const route = useHashRoute();
  const api = useMemo(
    () => new ConsoleApi((message) => setSession({ state: 'signed-out', message })),
    [],
  );

  useEffect(() => {
    let active = true;
    api.who().then(
      ({ who, ended }) => {
        if (!active) return;
        setSession(who ? { state: 'signed-in', who } : { state: 'signed-out', message: ended });
      },
      (error: unknown) => {
        if (active) setSession({ state: 'signed-out', message: errorText(error) });
      },
    );
    return () => {
      active = false;
    };
  }, [api]);

  const signOut = useCallback(async () => {
    try {
      await api.signOut();
    } finally {
      setSession({ state: 'signed-out', message: 'Signed out.' });
    }
  }, [api]);

  if (session.state === 'checking') {
    return <main className="join" data-testid="console-checking" aria-busy="true" />;
  }
  if (session.state === 'signed-out') {
    return (
      <SignIn
        message={session.message}
        onSignIn={async (body) => setSession({ state: 'signed-in', who: await api.signIn(body) })}
      />
    );
  }
  return (
    <Shell who={session.who} route={route} onSignOut={signOut}>
      {route.page === 'rooms' && <RoomsPage api={api} />}
      {route.page === 'room' && <RoomPage key={route.room} api={api} room={route.room} />}
      {route.page === 'keys' && <KeysPage api={api} />}
      {route.page === 'webhooks' && <WebhooksPage api={api} />}
    </Shell>
  );
}
