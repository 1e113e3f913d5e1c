/*
 * The tutorial's snippets (shared/seed/public-chat-sdk-web.txt, "Basic setup"), unchanged,
 * between the "seed:" comments: the package is imported as the tutorial's
 * `@sscale/pchatsdk`, which package.json installs from this repository's SDK (an alias
 * install, as sdk/js/README.md documents for applications). The code around them only
 * gets a token, waits for what each snippet started (the snippets' own handlers are
 * empty), and shows the outcome for the browser test.
 */
import { useEffect, useState } from 'react';

// seed: Add the following import
import { PChatSDK } from '@sscale/pchatsdk';

// seed: Create public chat SDK instance
const pchatSDK = new PChatSDK();

// seed: Subscribe to events
import { Events } from '@sscale/pchatsdk';

pchatSDK.on(Events.ERROR, (e) => {});
pchatSDK.on(Events.CONNECT, () => {});
pchatSDK.on(Events.MESSAGE, (message) => {});
// seed: end

type EventName = (typeof Events)[keyof typeof Events];

/** Resolves on the next `event` (or one that `accept` takes); rejects after `ms`. */
function next(event: EventName, accept: (payload: unknown) => boolean = () => true, ms = 10_000) {
  return new Promise<void>((resolve, reject) => {
    const handler = (payload: unknown) => {
      if (!accept(payload)) return;
      clearTimeout(timer);
      pchatSDK.off(event, handler);
      resolve();
    };
    const timer = setTimeout(() => {
      pchatSDK.off(event, handler);
      reject(new Error(`no ${event} event within ${ms} ms`));
    }, ms);
    pchatSDK.on(event, handler);
  });
}

/** The demo's token endpoint: the browser holds no API key (the tutorial's warning). */
async function getToken(sub: string): Promise<string> {
  const response = await fetch(`demo/token?sub=${encodeURIComponent(sub)}`);
  const body = (await response.json()) as { token?: string; error?: { message?: string } };
  if (!response.ok || !body.token) throw new Error(body.error?.message ?? 'no token');
  return body.token;
}

type Step = 'starting' | 'connected' | 'history loaded' | 'sent' | 'failed';

async function runTutorial(text: string, step: (s: Step) => void): Promise<void> {
  const JWT_ACCESS_TOKEN = await getToken(`seed-${Math.random().toString(36).slice(2)}`);

  const connected = next(Events.CONNECT);
  // seed: Connect to room
  pchatSDK.connect('room_id', 'username', JWT_ACCESS_TOKEN)
        .then(() => {})
        .catch(e => {});
  // seed: end
  await connected;
  step('connected');

  const loaded = next(Events.HISTORY_LOAD);
  // seed: Load history (the tutorial's line before `.then` is lost; the SDK's call)
  pchatSDK.loadHistory()
        .then(() => {})
        .catch(e => {});
  // seed: end
  await loaded;
  step('history loaded');

  // seed: Access messages
  pchatSDK.messages.forEach((message) => {});
  // seed: end

  const sent = next(Events.MESSAGE, (m) => (m as { text?: string }).text === text);
  // seed: Send message (the tutorial's line before `.then` is lost; the SDK's call)
  pchatSDK.sendMessage(text)
        .then(() => {})
        .catch(e => {});
  // seed: end
  await sent;
  step('sent');
}

export function App() {
  const [step, setStep] = useState<Step>('starting');
  const [lines, setLines] = useState<string[]>([]);
  const [errors, setErrors] = useState<string[]>([]);

  useEffect(() => {
    const show = () =>
      setLines(pchatSDK.messages.map((m) => `${m.user.username}: ${m.deleted ? '(deleted)' : m.text}`));
    const fail = (e: unknown) => setErrors((list) => [...list, e instanceof Error ? e.message : String(e)]);
    pchatSDK.on([Events.MESSAGE, Events.HISTORY_LOAD, Events.MESSAGE_DELETE], show);
    pchatSDK.on(Events.ERROR, fail);
    const text = new URLSearchParams(location.search).get('text') ?? 'Hello from the tutorial';
    runTutorial(text, (s) => {
      setStep(s);
      show();
    }).catch((e: unknown) => {
      fail(e);
      setStep('failed');
    });
  }, []);

  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', padding: '1rem' }}>
      <h1>pchat seed check</h1>
      <p>
        step: <b data-testid="step">{step}</b> · state: <b data-testid="state">{pchatSDK.state}</b>
      </p>
      <ol data-testid="messages">
        {lines.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ol>
      {errors.length > 0 && (
        <ul data-testid="errors" style={{ color: 'crimson' }}>
          {errors.map((e, i) => (
            <li key={i}>{e}</li>
          ))}
        </ul>
      )}
    </main>
  );
}
