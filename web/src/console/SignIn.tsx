import { useState, type FormEvent } from 'react';
import { errorText } from '../chat/adapt';

interface Props {
  /** Why the form is shown again (the session expired, signed out), if it is. */
  message: string | null;
  onSignIn: (body: Record<string, string>) => Promise<void>;
}

/**
 * Sign-in: an operator's name and password (`pchat console password`), or an API key and
 * secret exchanged once for a session (the page keeps neither).
 */
export function SignIn({ message, onSignIn }: Props) {
  const [withKey, setWithKey] = useState(false);
  const [operator, setOperator] = useState('admin');
  const [password, setPassword] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [apiSecret, setApiSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onSignIn(
        withKey ? { api_key: apiKey, api_secret: apiSecret } : { operator, password },
      );
    } catch (e) {
      setError(errorText(e));
      setPassword('');
      setApiSecret('');
      setBusy(false);
    }
  }

  return (
    <main className="join">
      <form className="join-card" onSubmit={submit} data-testid="signin-form">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <div>
            <h1>pchat console</h1>
            <p className="muted">Rooms, moderation, polls and keys</p>
          </div>
        </div>
        {message && (
          <p className="console-banner" role="status" data-testid="signin-message">
            {message}
          </p>
        )}
        {withKey ? (
          <>
            <label className="field">
              <span>API key</span>
              <input
                data-testid="signin-api-key"
                value={apiKey}
                autoComplete="off"
                onChange={(e) => setApiKey(e.target.value)}
              />
            </label>
            <label className="field">
              <span>API secret</span>
              <input
                data-testid="signin-api-secret"
                type="password"
                value={apiSecret}
                autoComplete="off"
                onChange={(e) => setApiSecret(e.target.value)}
              />
            </label>
          </>
        ) : (
          <>
            <label className="field">
              <span>Operator</span>
              <input
                data-testid="signin-operator"
                value={operator}
                autoComplete="username"
                onChange={(e) => setOperator(e.target.value)}
              />
            </label>
            <label className="field">
              <span>Password</span>
              <input
                data-testid="signin-password"
                type="password"
                value={password}
                autoComplete="current-password"
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        )}
        {error && (
          <p className="field-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button className="primary wide" type="submit" disabled={busy} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="small muted console-alt">
          <button
            type="button"
            className="link-button"
            data-testid="signin-switch"
            onClick={() => {
              setWithKey(!withKey);
              setError(null);
            }}
          >
            {withKey ? 'Sign in with a password' : 'Sign in with an API key instead'}
          </button>
        </p>
      </form>
    </main>
  );
}
