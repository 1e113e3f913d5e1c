/*
 * The tutorial's "Basic setup" (shared/seed/public-chat-sdk-web.txt) pasted into the App of a
 * `npx create-react-app my-app --template typescript` project. Each snippet sits between a
 * "seed:" comment and "seed: end", as the tutorial prints it, with three changes:
 *  - the second import (`Events`, under "Subscribe to events") is at the top with the first:
 *    pasted where the tutorial shows it, below `new PChatSDK()`, it fails `react-scripts
 *    build` (ESLint's import/first is an error in create-react-app's config);
 *  - "Load history" and "Send message" lost the line before `.then` in the tutorial: it is
 *    the SDK's call (`loadHistory()`, `sendMessage(text)`);
 *  - JWT_ACCESS_TOKEN comes from the server (GET /demo/token), never from an API key in the
 *    page, as the tutorial asks.
 * The code around the snippets waits for what each one started (their handlers are empty)
 * and shows the outcome for web/seed-path/test/seed-path.test.mjs.
 */
// seed: Add the following import
import { PChatSDK } from '@sscale/pchatsdk';
// seed: end
// seed: Subscribe to events (its import line)
import { Events } from '@sscale/pchatsdk';
// seed: end
import { useEffect, useState } from 'react';

// seed: Create public chat SDK instance
const pchatSDK = new PChatSDK();
// seed: end

// seed: Subscribe to events
pchatSDK.on(Events.ERROR, (e) => {});
pchatSDK.on(Events.CONNECT, () => {});
pchatSDK.on(Events.MESSAGE, (message) => {});
// seed: end

type EventName = (typeof Events)[keyof typeof Events];
type Step = 'starting' | 'connected' | 'history loaded' | 'sent' | 'failed';

/** Resolves on the next `event` that `accept` takes; rejects after `ms`. */
function nextEvent(event: EventName, accept: (payload: any) => boolean = () => true, ms = 10_000) {
  return new Promise<void>((resolve, reject) => {
    const handler = (payload: any) => {
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

/** "Your own authentication server": here the pchat server's demo token endpoint. */
async function fetchToken(sub: string): Promise<string> {
  const response = await fetch(`/demo/token?sub=${encodeURIComponent(sub)}`);
  const body = await response.json();
  if (!response.ok || typeof body.token !== 'string') {
    throw new Error(body.error?.message ?? `token endpoint answered ${response.status}`);
  }
  return body.token;
}

async function followTutorial(text: string, step: (s: Step) => void): Promise<void> {
  const JWT_ACCESS_TOKEN = await fetchToken(`seed-path-${Math.random().toString(36).slice(2)}`);

  const connected = nextEvent(Events.CONNECT);
  // seed: Connect to room
  pchatSDK.connect('room_id', 'username', JWT_ACCESS_TOKEN)
        .then(() => {})
        .catch(e => {});
  // seed: end
  await connected;
  step('connected');

  const loaded = nextEvent(Events.HISTORY_LOAD);
  // seed: Load history (the SDK's call on the line the tutorial lost)
  pchatSDK.loadHistory()
        .then(() => {})
        .catch(e => {});
  // seed: end
  await loaded;
  step('history loaded');

  // seed: Access messages
  pchatSDK.messages.forEach((message) => {});
  // seed: end

  const sent = nextEvent(Events.MESSAGE, (message) => message.text === text);
  // seed: Send message (the SDK's call on the line the tutorial lost)
  pchatSDK.sendMessage(text)
        .then(() => {})
        .catch(e => {});
  // seed: end
  await sent;
  step('sent');
}

/** One run per page, even where StrictMode runs effects twice (`npm start`). */
let started = false;

function App() {
  const [step, setStep] = useState<Step>('starting');
  const [lines, setLines] = useState<string[]>([]);
  const [errors, setErrors] = useState<string[]>([]);

  useEffect(() => {
    const show = () =>
      setLines(pchatSDK.messages.map((m) => `${m.user.username}: ${m.deleted ? '(deleted)' : m.text}`));
    const fail = (e: unknown) =>
      setErrors((list) => [...list, e instanceof Error ? e.message : String(e)]);
    pchatSDK.on([Events.MESSAGE, Events.HISTORY_LOAD, Events.MESSAGE_DELETE], show);
    pchatSDK.on(Events.ERROR, fail);
    if (!started) {
      started = true;
      const text = new URLSearchParams(window.location.search).get('text') ?? 'Hello from the tutorial';
      followTutorial(text, (s) => {
        setStep(s);
        show();
      }).catch((e: unknown) => {
        fail(e);
        setStep('failed');
      });
    }
    return () => {
      pchatSDK.off([Events.MESSAGE, Events.HISTORY_LOAD, Events.MESSAGE_DELETE], show);
      pchatSDK.off(Events.ERROR, fail);
    };
  }, []);

  return (
    <main>
      <h1>pchat: the tutorial's path</h1>
      <p>
        step: <b data-testid="step">{step}</b> · state: <b data-testid="state">{pchatSDK.state}</b>
      </p>
      <ol data-testid="messages">
        {lines.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ol>
      {errors.length > 0 && (
        <ul data-testid="errors">
          {errors.map((e, i) => (
            <li key={i}>{e}</li>
          ))}
        </ul>
      )}
    </main>
  );
}

export default App;
