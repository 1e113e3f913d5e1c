import { useState } from 'react';
import type { ConsoleApi } from '../api';
import type { NewWebhook, Webhook } from '../types';
import { useLoad } from '../useLoad';
import { AddWebhook, type WebhookDraft } from './AddWebhook';
import { SecretOnce } from './SecretOnce';
import { WebhookRow } from './WebhookRow';

// The outbox counts change as deliveries are made: the list is loaded again this often
// (in the background: an open page still idles out).
const REFRESH_MS = 5000;

/**
 * Webhook endpoints (docs/server-api.md, "Webhooks"): listed with their outbox (never a
 * secret), added (the secret shown this once), edited, tested, retried and removed — every
 * change a server API call made with the console session and its CSRF token.
 */
export function WebhooksPage({ api }: { api: ConsoleApi }) {
  const hooks = useLoad(
    (background) => api.get<{ webhooks: Webhook[] }>('/webhooks', { background }),
    REFRESH_MS,
  );
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<NewWebhook | null>(null);

  async function create(draft: WebhookDraft) {
    const made = await api.send<NewWebhook>('POST', '/webhooks', draft);
    setAdding(false);
    setCreated(made);
    hooks.reload();
  }

  const list = hooks.data?.webhooks;
  return (
    <section className="console-page" data-testid="webhooks-page">
      <div className="console-page-head">
        <h2>Webhooks</h2>
        <span className="muted small">
          Signed POSTs of the rooms&apos; events to your endpoints, retried until they answer
          2xx.
        </span>
        <button className="secondary small" data-testid="webhooks-refresh" onClick={hooks.reload}>
          Refresh
        </button>
        {!adding && (
          <button
            className="primary small"
            data-testid="webhook-add"
            onClick={() => {
              setCreated(null);
              setAdding(true);
            }}
          >
            Add an endpoint
          </button>
        )}
      </div>
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      {adding && <AddWebhook onCreate={create} onCancel={() => setAdding(false)} />}
      {hooks.error && <p className="field-error">{hooks.error}</p>}
      <table className="console-table" data-testid="webhooks-table">
        <thead>
          <tr>
            <th>Endpoint</th>
            <th>Events</th>
            <th>State</th>
            <th className="num" title="Deliveries waiting (or being made)">
              Pending
            </th>
            <th className="num" title="Deliveries given up after the last attempt (kept 7 days)">
              Dead
            </th>
            <th />
          </tr>
        </thead>
        {list?.map((webhook) => (
          <WebhookRow key={webhook.id} api={api} webhook={webhook} onChanged={hooks.reload} />
        ))}
        {list?.length === 0 && (
          <tbody>
            <tr>
              <td colSpan={6} className="muted" data-testid="webhooks-empty">
                No endpoint yet: add one to get the rooms&apos; events.
              </td>
            </tr>
          </tbody>
        )}
      </table>
    </section>
  );
}
