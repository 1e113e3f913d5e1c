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
            <Field label="API key" name="api-key" value={apiKey} onChange={setApiKey} />
            <Field
              label="API secret"
              name="api-secret"
              secret
              value={apiSecret}
              onChange={setApiSecret}
            />
          </>
        ) : (
          <>
            <Field
              label="Operator"
              name="operator"
              autoComplete="username"
              value={operator}
              onChange={setOperator}
            />
            <Field
              label="Password"
              name="password"
              secret
              autoComplete="current-password"
              value={password}
              onChange={setPassword}
            />
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

interface FieldProps {
  label: string;
  /** `signin-<name>` is its test id. */
  name: string;
  value: string;
  onChange: (value: string) => void;
  secret?: boolean;
  autoComplete?: string;
}

function Field({ label, name, value, onChange, secret = false, autoComplete = 'off' }: FieldProps) {
  return (
    <label className="field">
      <span>{label}</span>
      <input
        data-testid={`signin-${name}`}
        type={secret ? 'password' : 'text'}
        value={value}
        autoComplete={autoComplete}
        onChange={(e) => onChange(e.target.value)}
      />
    </label>
  );
}
