// @ts-check
/**
 * The admin console (/console) in Chromium against a real server: sign-in with the operator
 * password set by `pchat console password` (and a refused one), the cookie the page cannot
 * read, CSRF on changes, the live rooms, a room watched live with a moderation action seen by
 * a viewer of the demo, a poll created, voted on in the demo and finished, an API key created
 * (its secret shown once, working) and revoked, sign-out, and a session that expires unused.
 * The webhooks page: console-webhooks.test.mjs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  apiStatus,
  csrfToken,
  setPassword,
  signIn,
  signedIn,
} from './console-helpers.mjs';
import {
  PCHAT_BIN,
  PchatServer,
  TIMEOUT,
  browserSuite,
  join,
  messageWith,
  newUser,
  roomName,
  send,
  sleep,
} from './helpers.mjs';

const suite = browserSuite();
const user = suite.user;

describe('console', { timeout: 10 * TIMEOUT }, () => {
  before(() => setPassword(suite.server));

  test('a wrong password is refused; the right one signs in', async () => {
    const { page, problems } = await user('operator');
    await signIn(page, 'not the password');
    const error = page.getByTestId('signin-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /wrong operator or password/);
    assert.equal(await page.getByTestId('rooms-page').count(), 0);

    await page.getByTestId('signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('rooms-page').waitFor();
    assert.equal(await page.getByTestId('console-operator').textContent(), 'admin');
    // The page holds no secret: the session cookie is HttpOnly, out of the script's reach.
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /pchat_console/);
    // A reload keeps the session (the cookie), and a change without the CSRF token is
    // refused while the same change with it goes through.
    await page.reload();
    await page.getByTestId('rooms-page').waitFor();
    assert.equal(await apiStatus(page, 'POST', '/keys'), 403);
    assert.equal(await apiStatus(page, 'POST', '/keys', await csrfToken(page)), 201);
    assert.deepEqual(problems, []);
  });

  test('an API key and secret, exchanged once, sign in too', async () => {
    const created = execFileSync(PCHAT_BIN, [
      'keys',
      'create',
      '--json',
      '--data-dir',
      suite.server.dataDir,
    ]);
    const { api_key: key, api_secret: secret } = JSON.parse(created.toString());
    const { page, problems } = await user('backend-operator');
    await page.goto('/console');
    await page.getByTestId('signin-switch').click();
    await page.getByTestId('signin-api-key').fill(key);
    await page.getByTestId('signin-api-secret').fill(secret);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('rooms-page').waitFor();
    assert.equal(await page.getByTestId('console-operator').textContent(), `API key ${key}`);
    assert.doesNotMatch(await page.content(), new RegExp(secret));
    assert.deepEqual(problems, []);
  });

  test('a live room: its numbers, its messages, a delete and a ban seen by a viewer', async () => {
    const room = roomName('console');
    const viewer = await user('viewer');
    await join(viewer.page, { room, username: 'Val' });
    await send(viewer.page, 'hello from the demo');
    await send(viewer.page, 'buy followers now');

    const { page, problems } = await user('operator');
    await signedIn(page);
    const row = page.locator(`[data-testid="room-row"][data-room="${room}"]`);
    // The list refreshes itself every few seconds; the button asks at once.
    await page.getByTestId('rooms-refresh').click();
    await row.waitFor();
    assert.equal(await row.getByTestId('room-online').textContent(), '1');
    await row.getByRole('link').click();

    await page.getByTestId('room-page').waitFor();
    await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]');
    const spam = page.getByTestId('feed-message').filter({ hasText: 'buy followers now' });
    await spam.waitFor();
    await page.getByTestId('feed-message').filter({ hasText: 'hello from the demo' }).waitFor();
    // The console is in the room too: two online.
    await page.waitForSelector('[data-testid="room-online"][data-online="2"]');

    // A live message arrives; a delete reaches the viewer.
    await send(viewer.page, 'a third one');
    await page.getByTestId('feed-message').filter({ hasText: 'a third one' }).waitFor();
    await spam.getByTestId('act-delete').click();
    await messageWith(viewer.page, 'buy followers now').waitFor({ state: 'detached' });
    await page.waitForSelector(
      '[data-testid="feed-message"][data-deleted="true"] >> text=message deleted',
    );

    // A ban, confirmed first: the viewer can no longer write, and the bans list shows it.
    const hello = page.getByTestId('feed-message').filter({ hasText: 'hello from the demo' });
    await hello.getByTestId('act-ban').click();
    await hello.getByTestId('act-confirm').click();
    await viewer.page.getByTestId('ban-notice').waitFor();
    const ban = page.getByTestId('ban-row');
    await ban.waitFor();
    assert.equal(await ban.getAttribute('data-user-id'), await hello.getAttribute('data-user-id'));
    // Lifted from the list: the viewer writes again.
    await ban.getByTestId('ban-lift').click();
    await viewer.page.getByTestId('ban-notice').waitFor({ state: 'detached' });
    assert.deepEqual(problems, []);
  });

  test('a poll: created in the console, voted on in the demo, finished', async () => {
    const room = roomName('console-poll');
    const viewer = await user('voter');
    await join(viewer.page, { room, username: 'Vic' });
    const { page, problems } = await user('operator');
    await signedIn(page);
    await page.getByTestId('open-room-input').fill(room);
    await page.getByTestId('open-room').click();
    await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]');

    await page.getByTestId('poll-new').click();
    await page.getByTestId('poll-form-question').fill('Which encore?');
    const inputs = page.getByTestId('poll-form-option');
    await inputs.nth(0).fill('Song A');
    await inputs.nth(1).fill('Song B');
    await page.getByTestId('poll-form-submit').click();

    const seen = viewer.page.getByTestId('poll').filter({ hasText: 'Which encore?' });
    await seen.waitFor();
    await seen.getByTestId('poll-option').nth(1).click();
    await seen.getByTestId('poll-my-vote').waitFor();
    const poll = page.getByTestId('poll').filter({ hasText: 'Which encore?' });
    await poll.locator('[data-testid="poll-total"][data-total="1"]').waitFor();
    await poll.getByTestId('poll-finish').click();
    await viewer.page
      .locator('[data-testid="poll"][data-status="finished"]')
      .filter({ hasText: 'Which encore?' })
      .waitFor();
    assert.equal(await poll.getAttribute('data-status'), 'finished');
    assert.equal(await poll.getByTestId('poll-option').nth(1).getAttribute('data-votes'), '1');
    assert.deepEqual(problems, []);
  });

  test('an API key: created with its secret shown once, working, then revoked', async () => {
    const { page, problems } = await user('operator');
    await signedIn(page);
    await page.getByTestId('nav-keys').click();
    await page.getByTestId('keys-page').waitFor();
    await page.getByTestId('key-create').click();
    const key = (await page.getByTestId('key-created-key').textContent()) ?? '';
    const secret = (await page.getByTestId('key-created-secret').textContent()) ?? '';
    assert.match(key, /^pk_/);
    assert.match(secret, /^sk_/);
    const tokenStatus = async () => {
      const response = await fetch(`${suite.server.url}/public-chat/token/?sub=u1`, {
        headers: { 'auth-api-key': key, 'auth-api-secret': secret },
      });
      return response.status;
    };
    assert.equal(await tokenStatus(), 200);

    const row = page.locator(`[data-testid="key-row"][data-key="${key}"]`);
    await row.waitFor();
    await page.getByTestId('key-created-done').click();
    assert.equal(await page.getByTestId('key-created-secret').count(), 0, 'shown once');
    await page.reload();
    await row.waitFor();
    assert.doesNotMatch((await page.content()) ?? '', new RegExp(secret));

    await row.getByTestId('key-revoke').click();
    await row.getByTestId('key-revoke-confirm').click();
    await page.locator(`[data-testid="key-row"][data-key="${key}"][data-revoked="true"]`).waitFor();
    // Refused within the API keys' cache time (2 s).
    const deadline = Date.now() + TIMEOUT;
    while ((await tokenStatus()) !== 401) {
      assert.ok(Date.now() < deadline, 'the revoked key still works');
      await sleep(200);
    }
    assert.deepEqual(problems, []);
  });

  test('sign-out: the sign-in form again, and the API refuses the old cookie', async () => {
    const { page, context, problems } = await user('operator');
    await signedIn(page);
    const cookies = await context.cookies();
    const cookie = cookies.find((c) => c.name === 'pchat_console');
    assert.ok(cookie, 'the session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/public-chat/admin');

    await page.getByTestId('signout').click();
    await page.getByTestId('signin-form').waitFor();
    assert.equal(await page.getByTestId('signin-message').textContent(), 'Signed out.');
    assert.equal(await apiStatus(page, 'GET', '/rooms'), 401);
    // The old cookie, put back by hand, opens nothing either: the session was revoked.
    await context.addCookies([cookie]);
    assert.equal(await apiStatus(page, 'GET', '/rooms'), 401);
    await page.reload();
    await page.getByTestId('signin-form').waitFor();
    assert.deepEqual(problems, []);
  });
});

describe('console session expiry', { timeout: 5 * TIMEOUT }, () => {
  /** @type {PchatServer} */
  let server;
  /** @type {import('playwright-core').Browser} */
  let browser;
  before(async () => {
    server = await new PchatServer({ env: { PCHAT_CONSOLE_SESSION_IDLE: '2' } }).start();
    setPassword(server);
    browser = suite.browser;
  });
  after(async () => {
    await server?.dispose();
  });

  test('an unused session expires: the next action brings the sign-in form back', async () => {
    const { page, context, problems } = await newUser(browser, server.url);
    try {
      await signedIn(page);
      await sleep(2500);
      await page.getByTestId('rooms-refresh').click();
      const message = page.getByTestId('signin-message');
      await message.waitFor();
      assert.match((await message.textContent()) ?? '', /expired \(unused too long\)/);
      // Signing in again works.
      await page.getByTestId('signin-password').fill(PASSWORD);
      await page.getByTestId('signin-submit').click();
      await page.getByTestId('rooms-page').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
