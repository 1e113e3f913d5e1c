import { useRef, useState } from 'react';
import type { NewWebhook } from '../types';

type Copy = 'idle' | 'copied' | 'failed';

/**
 * The endpoint just registered, with its signing secret: the one time the server shows it
 * (no list or reload does again), with a copy button.
 */
export function SecretOnce({ created, onDone }: { created: NewWebhook; onDone: () => void }) {
  const [copy, setCopy] = useState<Copy>('idle');
  const code = useRef<HTMLElement>(null);

  async function copySecret() {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopy('copied');
    } catch {
      // No clipboard (not allowed, or not a secure context): select it for the operator.
      const node = code.current;
      const selection = window.getSelection();
      if (node && selection) {
        const range = document.createRange();
        range.selectNodeContents(node);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      setCopy('failed');
    }
  }

  return (
    <div className="console-secret" role="status" data-testid="webhook-created">
      <p>
        <strong>Endpoint added.</strong> Copy its signing secret now:{' '}
        <strong>it is shown only this once</strong> — no list or reload shows it again. Your
        endpoint checks each request&apos;s <code>pchat-signature</code> with it.
      </p>
      <dl>
        <dt>Endpoint</dt>
        <dd>
          <code data-testid="webhook-created-id">{created.id}</code>{' '}
          <span className="muted small">{created.url}</span>
        </dd>
        <dt>Secret</dt>
        <dd className="console-secret-value">
          <code ref={code} data-testid="webhook-created-secret">
            {created.secret}
          </code>
          <button
            className="secondary small"
            type="button"
            onClick={() => void copySecret()}
            data-testid="webhook-created-copy"
            data-copied={copy}
          >
            {copy === 'copied' ? 'Copied' : 'Copy'}
          </button>
          {copy === 'failed' && (
            <span className="muted small" role="alert">
              The browser did not allow copying: it is selected, press Ctrl+C (⌘C).
            </span>
          )}
        </dd>
      </dl>
      <button className="secondary small" onClick={onDone} data-testid="webhook-created-done">
        I have saved it
      </button>
    </div>
  );
}
