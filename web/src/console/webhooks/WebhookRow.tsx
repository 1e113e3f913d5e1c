import { useState } from 'react';
import { errorText } from '../../chat/adapt';
import { seg, type ConsoleApi } from '../api';
import type { Webhook, WebhookTest } from '../types';
import { ALL_TYPES, typesBody } from './events';
import { TypesPicker, choiceOf, choiceValid, type TypeChoice } from './TypesPicker';

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const COLUMNS = 6;

/** What the row shows under itself, at most one at a time. */
type Panel =
  | { readonly kind: 'none' }
  | { readonly kind: 'edit' }
  | { readonly kind: 'remove' }
  | { readonly kind: 'test'; readonly result: WebhookTest }
  | { readonly kind: 'retried'; readonly count: number };

interface Props {
  api: ConsoleApi;
  webhook: Webhook;
  /** The list changed (or may have): load it again. */
  onChanged: () => void;
}

/**
 * One endpoint (a `<tbody>` of its own: its row and what opens under it): its URL, types,
 * state and outbox, and its actions — send a test event, retry the dead deliveries, edit
 * the types and whether it is active, remove it (confirmed first).
 */
export function WebhookRow({ api, webhook, onChanged }: Props) {
  const [panel, setPanel] = useState<Panel>({ kind: 'none' });
  const [busy, setBusy] = useState<'test' | 'retry' | 'save' | 'remove' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const path = `/webhooks/${seg(webhook.id)}`;

  async function run(what: NonNullable<typeof busy>, action: () => Promise<void>) {
    setBusy(what);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
      onChanged();
    }
  }

  const test = () =>
    run('test', async () => {
      setPanel({ kind: 'none' }); // the previous answer goes while this one is awaited
      setPanel({ kind: 'test', result: await api.send<WebhookTest>('POST', `${path}/test`) });
    });
  const retry = () =>
    run('retry', async () => {
      const { retried } = await api.send<{ retried: number }>('POST', `${path}/retry`);
      setPanel({ kind: 'retried', count: retried });
    });
  const save = (choice: TypeChoice, active: boolean) =>
    run('save', async () => {
      await api.send('PATCH', path, { types: typesBody(choice.all, choice.chosen), active });
      setPanel({ kind: 'none' });
    });
  const remove = () =>
    run('remove', async () => {
      await api.send('DELETE', path);
    });

  const open = (kind: 'edit' | 'remove') => {
    setError(null);
    setPanel(panel.kind === kind ? { kind: 'none' } : { kind });
  };

  return (
    <tbody
      data-testid="webhook-row"
      data-id={webhook.id}
      data-url={webhook.url}
      data-active={String(webhook.active)}
      data-types={webhook.types.join(' ')}
      data-pending={webhook.pending}
      data-dead={webhook.dead}
    >
      <tr>
        <td>
          <code className="console-url">{webhook.url}</code>
          {webhook.description && <div className="small">{webhook.description}</div>}
          <div className="muted small">
            {webhook.id} · added {WHEN.format(webhook.created_at)}
          </div>
          {webhook.last_error && (
            <div className="field-error small" data-testid="webhook-last-error">
              Last failed attempt: {webhook.last_error}
            </div>
          )}
        </td>
        <td>
          <Types types={webhook.types} />
        </td>
        <td>
          <span
            className={webhook.active ? 'console-state on' : 'console-state off'}
            data-testid="webhook-active"
          >
            {webhook.active ? 'Active' : 'Paused'}
          </span>
        </td>
        <td className="num" data-testid="webhook-pending">
          {webhook.pending}
        </td>
        <td className={webhook.dead > 0 ? 'num console-risky' : 'num'} data-testid="webhook-dead">
          {webhook.dead}
        </td>
        <td className="actions">
          <button
            className="link-button"
            disabled={busy !== null}
            onClick={() => void test()}
            data-testid="webhook-test"
          >
            {busy === 'test' ? 'Sending…' : 'Send test'}
          </button>
          {webhook.dead > 0 && (
            <button
              className="link-button"
              disabled={busy !== null}
              onClick={() => void retry()}
              data-testid="webhook-retry"
            >
              Retry dead
            </button>
          )}
          <button
            className="link-button"
            aria-expanded={panel.kind === 'edit'}
            onClick={() => open('edit')}
            data-testid="webhook-edit"
          >
            Edit
          </button>
          <button
            className="link-button console-risky"
            aria-expanded={panel.kind === 'remove'}
            onClick={() => open('remove')}
            data-testid="webhook-remove"
          >
            Remove
          </button>
        </td>
      </tr>
      {(panel.kind !== 'none' || error) && (
        <tr className="console-detail">
          <td colSpan={COLUMNS}>
            {error && (
              <p className="field-error" role="alert" data-testid="webhook-error">
                {error}
              </p>
            )}
            {panel.kind === 'test' && <TestResult result={panel.result} />}
            {panel.kind === 'retried' && (
              <p role="status" data-testid="webhook-retry-result" data-retried={panel.count}>
                {panel.count === 1
                  ? '1 dead delivery is due again.'
                  : `${panel.count} dead deliveries are due again.`}
              </p>
            )}
            {panel.kind === 'edit' && (
              <EditWebhook
                webhook={webhook}
                busy={busy === 'save'}
                onSave={(choice, active) => void save(choice, active)}
                onCancel={() => setPanel({ kind: 'none' })}
              />
            )}
            {panel.kind === 'remove' && (
              <div className="console-confirm" data-testid="webhook-remove-box">
                <span>{removeQuestion(webhook)}</span>
                <button
                  className="link-button console-risky"
                  disabled={busy !== null}
                  onClick={() => void remove()}
                  data-testid="webhook-remove-confirm"
                >
                  Remove it
                </button>
                <button className="link-button" onClick={() => setPanel({ kind: 'none' })}>
                  Cancel
                </button>
              </div>
            )}
          </td>
        </tr>
      )}
    </tbody>
  );
}

function removeQuestion({ pending, dead }: Webhook): string {
  if (pending + dead === 0) return 'Remove this endpoint? It gets no more events.';
  const going = `its ${pending} pending and ${dead} dead deliveries go with it`;
  return `Remove this endpoint? It gets no more events, and ${going}.`;
}

function Types({ types }: { types: readonly string[] }) {
  if (types.includes(ALL_TYPES)) return <span className="console-chip all">every event</span>;
  return (
    <span className="console-chips">
      {types.map((type) => (
        <span key={type} className="console-chip">
          {type}
        </span>
      ))}
    </span>
  );
}

/** What the endpoint answered to the test event. */
function TestResult({ result }: { result: WebhookTest }) {
  const answer =
    result.status === null
      ? `no answer: ${result.error ?? 'unknown error'}`
      : `answered ${result.status}`;
  return (
    <p
      className={result.ok ? 'console-result ok' : 'console-result failed'}
      role="status"
      data-testid="webhook-test-result"
      data-ok={String(result.ok)}
      data-status={result.status ?? ''}
      data-event-id={result.event_id}
    >
      <strong>{result.ok ? 'Test event delivered' : 'Test event failed'}</strong>:{' '}
      <code>webhook.test</code> <code>{result.event_id}</code> {answer} in {result.ms} ms
      {!result.ok && result.status !== null && result.error && ` (${result.error})`}.
    </p>
  );
}

interface EditProps {
  webhook: Webhook;
  busy: boolean;
  onSave: (choice: TypeChoice, active: boolean) => void;
  onCancel: () => void;
}

/** Change an endpoint's event types and whether it is active. */
function EditWebhook({ webhook, busy, onSave, onCancel }: EditProps) {
  const [choice, setChoice] = useState(() => choiceOf(webhook.types));
  const [active, setActive] = useState(webhook.active);
  return (
    <form
      className="console-edit"
      data-testid="webhook-edit-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (choiceValid(choice)) onSave(choice, active);
      }}
    >
      <TypesPicker choice={choice} onChange={setChoice} idPrefix={`webhook-${webhook.id}`} />
      <label className="check">
        <input
          type="checkbox"
          checked={active}
          onChange={(e) => setActive(e.target.checked)}
          data-testid="webhook-edit-active"
        />
        <span>
          <strong>Active</strong>{' '}
          <span className="muted small">
            (paused: it gets no new events, and its pending ones wait until it is active again)
          </span>
        </span>
      </label>
      <div className="console-form-actions">
        <button
          className="primary small"
          type="submit"
          disabled={busy || !choiceValid(choice)}
          data-testid="webhook-edit-save"
        >
          Save
        </button>
        <button className="secondary small" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
