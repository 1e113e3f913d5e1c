import { useState } from 'react';
import { errorText } from '../chat/adapt';
import type { ConsoleApi } from './api';
import { seg } from './api';
import type { ApiKey, NewApiKey } from './types';
import { useLoad } from './useLoad';

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** API keys: listed (never a secret), created (the secret shown this once), revoked. */
export function KeysPage({ api }: { api: ConsoleApi }) {
  const keys = useLoad(() => api.get<{ api_keys: ApiKey[] }>('/keys'));
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function act(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(e));
    } finally {
      keys.reload();
    }
  }

  return (
    <section className="console-page" data-testid="keys-page">
      <div className="console-page-head">
        <h2>API keys</h2>
        <button
          className="primary small"
          data-testid="key-create"
          onClick={() =>
            void act(async () => setCreated(await api.send<NewApiKey>('POST', '/keys')))
          }
        >
          Create a key
        </button>
      </div>
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      {(error ?? keys.error) && <p className="field-error">{error ?? keys.error}</p>}
      <table className="console-table">
        <thead>
          <tr>
            <th>Key</th>
            <th>Created</th>
            <th>Revoked</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.data?.api_keys.map((key) => (
            <KeyRow
              key={key.api_key}
              apiKey={key}
              onRevoke={() => act(() => api.send('POST', `/keys/${seg(key.api_key)}/revoke`))}
            />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function NewKey({ created, onDone }: { created: NewApiKey; onDone: () => void }) {
  return (
    <div className="console-secret" role="status" data-testid="key-created">
      <p>
        <strong>New key created.</strong> Copy its secret now: it is shown only this once (the
        server keeps only its hash).
      </p>
      <dl>
        <dt>API key</dt>
        <dd>
          <code data-testid="key-created-key">{created.api_key}</code>
        </dd>
        <dt>API secret</dt>
        <dd>
          <code data-testid="key-created-secret">{created.api_secret}</code>
        </dd>
      </dl>
      <button className="secondary small" onClick={onDone} data-testid="key-created-done">
        I have saved it
      </button>
    </div>
  );
}

function KeyRow({ apiKey, onRevoke }: { apiKey: ApiKey; onRevoke: () => Promise<void> }) {
  const [confirming, setConfirming] = useState(false);
  const revoked = apiKey.revoked_at !== null;
  return (
    <tr data-testid="key-row" data-key={apiKey.api_key} data-revoked={revoked ? 'true' : 'false'}>
      <td>
        <code>{apiKey.api_key}</code>
      </td>
      <td>{WHEN.format(apiKey.created_at)}</td>
      <td>{apiKey.revoked_at === null ? '—' : WHEN.format(apiKey.revoked_at)}</td>
      <td className="actions">
        {!revoked && !confirming && (
          <button
            className="link-button"
            data-testid="key-revoke"
            onClick={() => setConfirming(true)}
          >
            Revoke
          </button>
        )}
        {!revoked && confirming && (
          <>
            <button
              className="link-button console-risky"
              data-testid="key-revoke-confirm"
              onClick={() => void onRevoke().finally(() => setConfirming(false))}
            >
              Revoke it
            </button>
            <button className="link-button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </>
        )}
      </td>
    </tr>
  );
}
