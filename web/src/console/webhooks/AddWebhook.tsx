import { useState, type FormEvent } from 'react';
import { errorText } from '../../chat/adapt';
import { typesBody } from './events';
import { TypesPicker, choiceValid, type TypeChoice } from './TypesPicker';

// The server's rules (docs/server-api.md, "Registering an endpoint"), checked here only to
// help: the server checks them again and its refusal is shown.
const URL_PATTERN = /^https?:\/\/[^\s/?#]+/i;
const SECRET_MIN = 16;
const SECRET_MAX = 256;
const DESCRIPTION_MAX = 200;

/** The body of `POST /webhooks`. */
export interface WebhookDraft {
  url: string;
  types: string[];
  description?: string;
  secret?: string;
}

interface Props {
  onCreate: (draft: WebhookDraft) => Promise<unknown>;
  onCancel: () => void;
}

/** Register an endpoint: its URL, its event types, a note, and optionally its secret. */
export function AddWebhook({ onCreate, onCancel }: Props) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [secret, setSecret] = useState('');
  const [choice, setChoice] = useState<TypeChoice>({ all: true, chosen: new Set() });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const urlValid = URL_PATTERN.test(url.trim());
  const secretValid = secret === '' || (secret.length >= SECRET_MIN && secret.length <= SECRET_MAX);
  const valid = urlValid && secretValid && choiceValid(choice);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!valid) return;
    setBusy(true);
    setError(null);
    try {
      const draft: WebhookDraft = { url: url.trim(), types: typesBody(choice.all, choice.chosen) };
      if (description.trim()) draft.description = description.trim();
      if (secret) draft.secret = secret;
      await onCreate(draft);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }

  return (
    <form className="console-form" onSubmit={submit} data-testid="webhook-form">
      <h3>Add an endpoint</h3>
      <label className="field">
        <span>URL</span>
        <input
          type="url"
          placeholder="https://api.example.com/pchat-events"
          value={url}
          required
          onChange={(e) => setUrl(e.target.value)}
          data-testid="webhook-form-url"
        />
        {url !== '' && !urlValid && (
          <small className="field-error">An http:// or https:// URL, with a host.</small>
        )}
      </label>
      <TypesPicker choice={choice} onChange={setChoice} idPrefix="webhook-new" />
      <label className="field">
        <span>
          Note <span className="muted small">(optional)</span>
        </span>
        <input
          value={description}
          maxLength={DESCRIPTION_MAX}
          onChange={(e) => setDescription(e.target.value)}
          data-testid="webhook-form-description"
        />
      </label>
      <label className="field">
        <span>
          Secret <span className="muted small">(optional: one is made when left empty)</span>
        </span>
        <input
          value={secret}
          autoComplete="off"
          spellCheck={false}
          maxLength={SECRET_MAX}
          placeholder={`${SECRET_MIN}–${SECRET_MAX} characters`}
          onChange={(e) => setSecret(e.target.value)}
          data-testid="webhook-form-secret"
        />
        {!secretValid && (
          <small className="field-error">
            {SECRET_MIN}–{SECRET_MAX} characters, or empty.
          </small>
        )}
      </label>
      {error && (
        <p className="field-error" role="alert" data-testid="webhook-form-error">
          {error}
        </p>
      )}
      <div className="console-form-actions">
        <button
          className="primary small"
          type="submit"
          disabled={busy || !valid}
          data-testid="webhook-form-submit"
        >
          Add endpoint
        </button>
        <button className="secondary small" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
