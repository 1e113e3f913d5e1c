// @ts-check
/**
 * The console's webhooks page in Chromium against a real server and a real receiver (a
 * node:http server in this process that records every POST): an endpoint added through the
 * page (its types chosen, its secret shown once and copied), a test event sent from the page
 * and checked at the receiver — a `webhook.test` POST whose `pchat-signature` is the
 * HMAC-SHA256 of `t.body` with that secret (docs/server-api.md, "Checking a signature") —,
 * an edit (types, paused), a removal confirmed first; and, with `PCHAT_WEBHOOK_MAX_ATTEMPTS=1`,
 * a failed test shown as failed and a dead delivery retried from the page.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { apiCall, apiStatus, csrfToken, setPassword, signedIn } from './console-helpers.mjs';
import { TIMEOUT, browserSuite, roomName } from './helpers.mjs';

/**
 * @typedef {{ method: string, path: string, headers: import('node:http').IncomingHttpHeaders,
 *   body: Buffer, event: any }} Received
 */

/**
 * A webhook receiver on 127.0.0.1: records every request and answers `status` (settable).
 * `next(match)` resolves with the first request, received or to come, that `match` accepts
 * and no earlier `next` took.
 */
async function startReceiver() {
  /** @type {Received[]} */
  const received = [];
  /** @type {Set<Received>} */
  const taken = new Set();
  /** @type {(() => void)[]} */
  let waiters = [];
  const receiver = {
    status: 200,
    url: '',
    received,
    /**
     * @param {(r: Received) => boolean} match
     * @returns {Promise<Received>}
     */
    next(match) {
      return new Promise((resolve, reject) => {
        const look = () => {
          const found = received.find((r) => !taken.has(r) && match(r));
          if (!found) return false;
          taken.add(found);
          resolve(found);
          return true;
        };
        if (look()) return;
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          const seen = received.map((r) => r.event?.type);
          reject(new Error(`the receiver got no such request (it got ${JSON.stringify(seen)})`));
        }, TIMEOUT);
        const waiter = () => {
          if (!look()) return;
          clearTimeout(timer);
          waiters = waiters.filter((w) => w !== waiter);
        };
        waiters.push(waiter);
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  const server = createServer((request, response) => {
    /** @type {Buffer[]} */
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      let event = null;
      try {
        event = JSON.parse(body.toString('utf8'));
      } catch {
        // kept as bytes; a test expecting JSON fails on `event`
      }
      received.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
        event,
      });
      response.writeHead(receiver.status, { 'content-type': 'text/plain' });
      response.end(receiver.status < 300 ? 'ok' : 'not now');
      for (const waiter of [...waiters]) waiter();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  receiver.url = `http://127.0.0.1:${address.port}`;
  return receiver;
}

/**
 * The receiver's check of a `pchat-signature` header (docs/server-api.md, "Checking a
 * signature"): `t=<Unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>`, keyed with the
 * endpoint's secret, one matching `v1` enough, `t` within 5 minutes of now.
 * @param {string} secret
 * @param {string | string[] | undefined} header
 * @param {Buffer} body
 */
function signatureValid(secret, header, body) {
  if (typeof header !== 'string') return false;
  const parts = header.split(',').map((p) => {
    const at = p.indexOf('=');
    return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
  });
  const t = parts.find(([k]) => k === 't')?.[1] ?? '';
  if (!/^\d+$/.test(t) || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return parts.some(([k, v]) => {
    if (k !== 'v1' || !/^[0-9a-f]{64}$/.test(v)) return false;
    return timingSafeEqual(expected, Buffer.from(v, 'hex'));
  });
}

/**
 * Open the webhooks page from the console's navigation.
 * @param {import('playwright-core').Page} page
 */
async function openWebhooks(page) {
  await signedIn(page);
  await page.getByTestId('nav-webhooks').click();
  await page.getByTestId('webhooks-page').waitFor();
}

/**
 * Add an endpoint through the page's form; its id and the secret shown.
 * @param {import('playwright-core').Page} page
 * @param {{ url: string, types: string[], secret?: string }} endpoint
 */
async function addEndpoint(page, { url, types, secret }) {
  await page.getByTestId('webhook-add').click();
  const form = page.getByTestId('webhook-form');
  await form.getByTestId('webhook-form-url').fill(url);
  // Every event is the default choice: unchecked, none is chosen and the form waits.
  await form.getByTestId('webhook-type-all').uncheck();
  await form.getByTestId('webhook-types-error').waitFor();
  assert.equal(await form.getByTestId('webhook-form-submit').isDisabled(), true);
  for (const type of types) {
    await form.locator(`[data-testid="webhook-type"][data-type="${type}"]`).check();
  }
  if (secret !== undefined) await form.getByTestId('webhook-form-secret').fill(secret);
  await form.getByTestId('webhook-form-submit').click();
  const created = page.getByTestId('webhook-created');
  await created.waitFor();
  await form.waitFor({ state: 'detached' });
  return {
    id: (await created.getByTestId('webhook-created-id').textContent()) ?? '',
    secret: (await created.getByTestId('webhook-created-secret').textContent()) ?? '',
    note: (await created.textContent()) ?? '',
  };
}

/**
 * An endpoint's row, optionally only once it shows `attributes` (its data-* values).
 * @param {import('playwright-core').Page} page
 * @param {string} id
 * @param {Record<string, string>} [attributes]
 */
function row(page, id, attributes = {}) {
  const more = Object.entries(attributes).map(([k, v]) => `[data-${k}="${v}"]`);
  return page.locator(`[data-testid="webhook-row"][data-id="${id}"]${more.join('')}`);
}

const suite = browserSuite({ env: { PCHAT_WEBHOOK_MAX_ATTEMPTS: '1' } });
const user = suite.user;

describe('console webhooks', { timeout: 10 * TIMEOUT }, () => {
  /** @type {Awaited<ReturnType<typeof startReceiver>>} */
  let receiver;
  before(async () => {
    setPassword(suite.server);
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver?.close();
  });

  test('an endpoint added in the page gets a signed webhook.test; edited; removed', async () => {
    receiver.status = 200;
    const { page, context, problems } = await user('operator');
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await openWebhooks(page);
    await page.getByTestId('webhooks-empty').waitFor();
    // A change without the session's CSRF token is refused.
    assert.equal(await apiStatus(page, 'POST', '/webhooks'), 403);

    const url = `${receiver.url}/pchat-events`;
    const made = await addEndpoint(page, { url, types: ['message.posted', 'user.banned'] });
    assert.match(made.id, /^wh_/);
    assert.match(made.secret, /^whsec_.{32}$/);
    assert.match(made.note, /shown only this once/);
    // The copy button puts the secret on the clipboard.
    await page.getByTestId('webhook-created-copy').click();
    await page.locator('[data-testid="webhook-created-copy"][data-copied="copied"]').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), made.secret);

    const listed = row(page, made.id);
    const types = 'message.posted user.banned';
    await row(page, made.id, { url, types, active: 'true', pending: '0', dead: '0' }).waitFor();

    // Send test: the page shows the endpoint's answer, and the receiver got the event.
    await listed.getByTestId('webhook-test').click();
    const result = listed.locator('[data-testid="webhook-test-result"][data-ok="true"]');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-status'), '200');
    const eventId = (await result.getAttribute('data-event-id')) ?? '';
    assert.match(eventId, /^evt_/);
    const got = await receiver.next((r) => r.headers['pchat-event-id'] === eventId);
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/pchat-events');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['pchat-event-type'], 'webhook.test');
    assert.equal(got.event.type, 'webhook.test');
    assert.equal(got.event.id, eventId);
    assert.equal(got.event.room_id, null);
    assert.deepEqual(got.event.data, { webhook_id: made.id });
    const signature = got.headers['pchat-signature'];
    assert.ok(signatureValid(made.secret, signature, got.body), 'signed with the secret shown');
    // The check can fail: another secret, or a body changed by one byte.
    assert.equal(signatureValid(`${made.secret}x`, signature, got.body), false);
    const altered = Buffer.concat([got.body, Buffer.from(' ')]);
    assert.equal(signatureValid(made.secret, signature, altered), false);

    // The secret was shown once: gone when dismissed, and not in the page after a reload.
    await page.getByTestId('webhook-created-done').click();
    assert.equal(await page.getByTestId('webhook-created-secret').count(), 0);
    await page.reload();
    await listed.waitFor();
    assert.doesNotMatch(await page.content(), new RegExp(made.secret));

    // Edit: one more type, and paused.
    await listed.getByTestId('webhook-edit').click();
    const edit = listed.getByTestId('webhook-edit-form');
    await edit.locator('[data-testid="webhook-type"][data-type="poll.finished"]').check();
    await edit.getByTestId('webhook-edit-active').uncheck();
    await edit.getByTestId('webhook-edit-save').click();
    const edited = 'message.posted user.banned poll.finished';
    await row(page, made.id, { types: edited, active: 'false' }).waitFor();
    assert.equal(await listed.getByTestId('webhook-active').textContent(), 'Paused');
    const stored = await apiCall(page, 'GET', `/webhooks/${made.id}`);
    assert.equal(stored.body.active, false);
    assert.deepEqual(stored.body.types, ['message.posted', 'user.banned', 'poll.finished']);

    // Remove: asked first (Cancel keeps it), then gone from the page and the server.
    await listed.getByTestId('webhook-remove').click();
    const box = listed.getByTestId('webhook-remove-box');
    await box.getByText('Cancel').click();
    await box.waitFor({ state: 'detached' });
    await listed.getByTestId('webhook-remove').click();
    await box.getByTestId('webhook-remove-confirm').click();
    await row(page, made.id).waitFor({ state: 'detached' });
    await page.getByTestId('webhooks-empty').waitFor();
    assert.equal(await apiStatus(page, 'GET', `/webhooks/${made.id}`), 404);
    assert.deepEqual(problems, []);
  });

  test('a failed test is shown; a dead delivery is retried from the page', async () => {
    receiver.status = 500;
    const { page, problems } = await user('operator');
    await openWebhooks(page);
    // The operator's own secret: shown once too.
    const secret = 'an operator secret, 0123456789';
    const url = `${receiver.url}/dead-letters`;
    const made = await addEndpoint(page, { url, types: ['message.posted'], secret });
    assert.equal(made.secret, secret);
    await page.getByTestId('webhook-created-done').click();
    const listed = row(page, made.id);
    await row(page, made.id, { types: 'message.posted', active: 'true' }).waitFor();

    await listed.getByTestId('webhook-test').click();
    const result = listed.locator('[data-testid="webhook-test-result"][data-ok="false"]');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-status'), '500');
    assert.match((await result.textContent()) ?? '', /answered 500/);

    // A message posted: its one attempt (PCHAT_WEBHOOK_MAX_ATTEMPTS=1) fails, and it is dead.
    const room = roomName('webhooks');
    const csrf = await csrfToken(page);
    const body = { text: 'hello, backend' };
    const posted = await apiCall(page, 'POST', `/rooms/${room}/messages`, { csrf, body });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const isPost = (/** @type {Received} */ r) => r.event?.type === 'message.posted';
    const failed = await receiver.next(isPost);
    assert.equal(failed.path, '/dead-letters');
    assert.ok(signatureValid(secret, failed.headers['pchat-signature'], failed.body));
    // The list refreshes itself every few seconds.
    await row(page, made.id, { dead: '1', pending: '0' }).waitFor();
    assert.match((await listed.getByTestId('webhook-last-error').textContent()) ?? '', /500/);

    // Retry dead, now that the receiver answers 200: the same event arrives again.
    receiver.status = 200;
    await listed.getByTestId('webhook-retry').click();
    const retried = listed.getByTestId('webhook-retry-result');
    await retried.waitFor();
    assert.equal(await retried.getAttribute('data-retried'), '1');
    const again = await receiver.next(isPost);
    assert.equal(again.headers['pchat-event-id'], failed.headers['pchat-event-id']);
    assert.equal(again.event.data.message.text, 'hello, backend');
    assert.ok(signatureValid(secret, again.headers['pchat-signature'], again.body));
    await row(page, made.id, { dead: '0', pending: '0' }).waitFor();
    assert.equal(await listed.getByTestId('webhook-retry').count(), 0);

    await listed.getByTestId('webhook-remove').click();
    await listed.getByTestId('webhook-remove-confirm').click();
    await row(page, made.id).waitFor({ state: 'detached' });
    assert.deepEqual(problems, []);
  });
});
