// @ts-check
/**
 * The demo in a real browser against a real pchat server (built web/dist served by the
 * server through PCHAT_STATIC_DIR). Run with `npm run e2e` (builds first).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  DIST_DIR,
  PchatServer,
  TIMEOUT,
  join,
  launchBrowser,
  messages,
  newUser,
  roomName,
  send,
  waitConnected,
  waitTexts,
} from './helpers.mjs';

/** @type {PchatServer} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('playwright-core').BrowserContext[]} */
const contexts = [];

/** @param {string} label */
async function user(label) {
  const u = await newUser(browser, server.url);
  contexts.push(u.context);
  return { ...u, label };
}

/**
 * The message list item holding `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
function messageWith(page, text) {
  return page
    .getByTestId('message')
    .filter({ has: page.getByTestId('message-text').getByText(text, { exact: true }) });
}

before(async () => {
  assert.ok(existsSync(`${DIST_DIR}/index.html`), 'web/dist is missing: run `npm run build`');
  server = await new PchatServer().start();
  browser = await launchBrowser();
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await server?.dispose();
});

describe('chat', { timeout: 10 * TIMEOUT }, () => {
  test('two users in one room chat both ways', async () => {
    const room = roomName('both-ways');
    const ann = await user('ann');
    const bob = await user('bob');
    await join(ann.page, { room, username: 'Ann' });
    await join(bob.page, { room, username: 'Bob' });

    await send(ann.page, 'hello from Ann');
    await waitTexts(bob.page, ['hello from Ann']);
    await send(bob.page, 'hi Ann, Bob here');
    await waitTexts(ann.page, ['hello from Ann', 'hi Ann, Bob here']);

    const seenByAnn = await messages(ann.page);
    const seenByBob = await messages(bob.page);
    assert.deepEqual(
      seenByAnn.map((m) => [m.text, m.mine]),
      [
        ['hello from Ann', true],
        ['hi Ann, Bob here', false],
      ],
    );
    assert.deepEqual(
      seenByBob.map((m) => [m.text, m.mine]),
      [
        ['hello from Ann', false],
        ['hi Ann, Bob here', true],
      ],
    );
    // The same message has the same id on both sides.
    assert.deepEqual(
      seenByAnn.map((m) => m.id),
      seenByBob.map((m) => m.id),
    );
    // Others' messages carry their author's name.
    await messageWith(bob.page, 'hello from Ann').getByText('Ann', { exact: true }).waitFor();
    // Both see two people online.
    await ann.page.waitForSelector('[data-testid="online-count"][data-online="2"]');
    await bob.page.waitForSelector('[data-testid="online-count"][data-online="2"]');
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });

  test('a reload keeps the history, and a newcomer sees it', async () => {
    const room = roomName('reload');
    const ann = await user('ann');
    await join(ann.page, { room, username: 'Ann' });
    const texts = ['first', 'second', 'third'];
    for (const text of texts) await send(ann.page, text);

    const userId = await ann.page.getByTestId('me-name').textContent();
    assert.equal(userId, 'Ann');
    await ann.page.reload();
    // The tab goes back into its room by itself, as the same user.
    await waitConnected(ann.page);
    await waitTexts(ann.page, texts);
    assert.ok((await messages(ann.page)).every((m) => m.mine), 'still my messages after reload');

    const cara = await user('cara');
    await join(cara.page, { room, username: 'Cara' });
    await waitTexts(cara.page, texts);
    assert.ok((await messages(cara.page)).every((m) => !m.mine));
  });

  test('"load older" pages back through a long history', async () => {
    const room = roomName('older');
    const ann = await user('ann');
    await join(ann.page, { room, username: 'Ann', role: 'admin' });
    // More than one history page (50), paced under the rate limit (5/s, burst 10).
    const total = 60;
    for (let i = 1; i <= total; i++) {
      await ann.page.getByTestId('composer-input').fill(`m${i}`);
      await ann.page.getByTestId('composer-send').click();
      await messageWith(ann.page, `m${i}`).waitFor();
      if (i % 8 === 0) await ann.page.waitForTimeout(1700);
    }
    const bob = await user('bob');
    await join(bob.page, { room, username: 'Bob' });
    await waitTexts(
      bob.page,
      Array.from({ length: 50 }, (_, i) => `m${i + 11}`),
    );
    // Scrolling to the top loads the older page.
    await bob.page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: 0 }));
    await waitTexts(
      bob.page,
      Array.from({ length: total }, (_, i) => `m${i + 1}`),
    );
    await bob.page.getByTestId('history-start').waitFor();
  });

  test('delete: own message, and a moderator deleting another one', async () => {
    const room = roomName('delete');
    const ann = await user('ann');
    const bob = await user('bob');
    const mod = await user('mod');
    await join(ann.page, { room, username: 'Ann' });
    await join(bob.page, { room, username: 'Bob' });
    await join(mod.page, { room, username: 'Moe', role: 'moderator' });

    await send(ann.page, 'oops, wrong room');
    await send(bob.page, 'something rude');
    for (const { page } of [ann, bob, mod]) {
      await waitTexts(page, ['oops, wrong room', 'something rude']);
    }

    // A viewer may delete only their own messages.
    assert.equal(await messageWith(ann.page, 'oops, wrong room').getByTestId('message-delete').count(), 1);
    assert.equal(await messageWith(ann.page, 'something rude').getByTestId('message-delete').count(), 0);
    // A moderator may delete any.
    assert.equal(await mod.page.getByTestId('message-delete').count(), 2);

    await messageWith(ann.page, 'oops, wrong room').getByTestId('message-delete').click();
    await messageWith(mod.page, 'something rude').getByTestId('message-delete').click();

    for (const { page } of [ann, bob, mod]) {
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('[data-testid="message"]')].filter(
            (el) => el.getAttribute('data-deleted') === 'true',
          ).length === 2,
      );
      const shown = await messages(page);
      assert.equal(shown.length, 2);
      assert.ok(shown.every((m) => m.deleted && m.text.startsWith('message deleted')), JSON.stringify(shown));
      assert.equal(await page.getByTestId('message-delete').count(), 0);
    }
    assert.equal(
      await messageWith(bob.page, 'message deleted by Moe').count(),
      1,
      'who deleted another one\'s message is shown',
    );

    // Deleted stays deleted after a reload (soft delete in the stored history).
    await bob.page.reload();
    await waitConnected(bob.page);
    await bob.page.waitForFunction(
      () => document.querySelectorAll('[data-testid="message"][data-deleted="true"]').length === 2,
    );
  });

  test('reaction counts are live on both sides', async () => {
    const room = roomName('reactions');
    const ann = await user('ann');
    const bob = await user('bob');
    await join(ann.page, { room, username: 'Ann' });
    await join(bob.page, { room, username: 'Bob' });

    for (let i = 0; i < 3; i++) await ann.page.getByTestId('reaction-like').click();
    await bob.page.getByTestId('reaction-fire').click();

    for (const { page } of [ann, bob]) {
      await page.waitForSelector('[data-testid="reaction-count-like"][data-count="3"]');
      await page.waitForSelector('[data-testid="reaction-count-fire"][data-count="1"]');
      assert.equal(await page.getByTestId('reaction-count-love').getAttribute('data-count'), '0');
    }
    // A newcomer gets the totals on connect.
    const cara = await user('cara');
    await join(cara.page, { room, username: 'Cara' });
    await cara.page.waitForSelector('[data-testid="reaction-count-like"][data-count="3"]');
  });

  test('polls: a moderator creates and finishes, viewers vote with live tallies', async () => {
    const room = roomName('polls');
    const mod = await user('mod');
    const ann = await user('ann');
    const bob = await user('bob');
    await join(mod.page, { room, username: 'Moe', role: 'moderator' });
    await join(ann.page, { room, username: 'Ann' });
    await join(bob.page, { room, username: 'Bob' });

    // Viewers cannot create polls.
    assert.equal(await ann.page.getByTestId('poll-new').count(), 0);

    await mod.page.getByTestId('poll-new').click();
    await mod.page.getByTestId('poll-form-question').fill('Best topping?');
    await mod.page.getByTestId('poll-form-add-option').click();
    const inputs = mod.page.getByTestId('poll-form-option');
    await inputs.nth(0).fill('Cheese');
    await inputs.nth(1).fill('Mushrooms');
    await inputs.nth(2).fill('Pineapple');
    await mod.page.getByTestId('poll-form-submit').click();

    for (const { page } of [mod, ann, bob]) {
      const poll = page.getByTestId('poll').filter({ hasText: 'Best topping?' });
      await poll.waitFor();
      assert.equal(await poll.getAttribute('data-status'), 'open');
      assert.equal(await poll.getByTestId('poll-option').count(), 3);
    }

    const annPoll = ann.page.getByTestId('poll').filter({ hasText: 'Best topping?' });
    await annPoll.getByTestId('poll-option').nth(2).click();
    // My vote is shown, and I cannot vote again.
    await annPoll.getByTestId('poll-my-vote').waitFor();
    assert.equal(await annPoll.getByTestId('poll-option').nth(2).getAttribute('data-mine'), 'true');
    assert.ok(await annPoll.getByTestId('poll-option').nth(0).isDisabled());

    const bobPoll = bob.page.getByTestId('poll').filter({ hasText: 'Best topping?' });
    await bobPoll.getByTestId('poll-option').nth(0).click();
    await bobPoll.getByTestId('poll-my-vote').waitFor();

    // Live tallies everywhere: 1, 0, 1 and two votes in all.
    for (const { page } of [mod, ann, bob]) {
      const poll = page.getByTestId('poll').filter({ hasText: 'Best topping?' });
      await poll.locator('[data-testid="poll-total"][data-total="2"]').waitFor();
      const votes = await poll
        .getByTestId('poll-option')
        .evaluateAll((els) => els.map((el) => el.getAttribute('data-votes')));
      assert.deepEqual(votes, ['1', '0', '1']);
    }
    // Bob's view says his vote, not Ann's.
    assert.equal(await bobPoll.getByTestId('poll-option').nth(0).getAttribute('data-mine'), 'true');
    assert.equal(await bobPoll.getByTestId('poll-option').nth(2).getAttribute('data-mine'), 'false');
    // A viewer has no finish button.
    assert.equal(await ann.page.getByTestId('poll-finish').count(), 0);

    await mod.page.getByTestId('poll').filter({ hasText: 'Best topping?' }).getByTestId('poll-finish').click();
    for (const { page } of [mod, ann, bob]) {
      await page.locator('[data-testid="poll"][data-status="finished"]').filter({ hasText: 'Best topping?' }).waitFor();
    }

    // The vote is remembered across a reload.
    await ann.page.reload();
    await waitConnected(ann.page);
    const again = ann.page.getByTestId('poll').filter({ hasText: 'Best topping?' });
    await again.getByTestId('poll-my-vote').waitFor();
    assert.equal(await again.getByTestId('poll-option').nth(2).getAttribute('data-mine'), 'true');
  });

  test('a scheduled poll is hidden from viewers until it opens', async () => {
    const room = roomName('scheduled');
    const mod = await user('mod');
    const ann = await user('ann');
    await join(mod.page, { room, username: 'Moe', role: 'admin' });
    await join(ann.page, { room, username: 'Ann' });

    // Four seconds from now, in the datetime-local format (local time, with seconds).
    const at = await mod.page.evaluate(() => {
      const d = new Date(Date.now() + 4000);
      const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    });
    await mod.page.getByTestId('poll-new').click();
    await mod.page.getByTestId('poll-form-question').fill('Encore?');
    const inputs = mod.page.getByTestId('poll-form-option');
    await inputs.nth(0).fill('Yes');
    await inputs.nth(1).fill('No');
    await mod.page.getByTestId('poll-form-schedule').check();
    await mod.page.getByTestId('poll-form-publish-at').fill(at);
    await mod.page.getByTestId('poll-form-submit').click();

    await mod.page.locator('[data-testid="poll"][data-status="scheduled"]').filter({ hasText: 'Encore?' }).waitFor();
    assert.equal(await ann.page.getByTestId('poll').count(), 0, 'viewers do not see scheduled polls');

    // It opens by itself, for everyone.
    for (const { page } of [mod, ann]) {
      await page
        .locator('[data-testid="poll"][data-status="open"]')
        .filter({ hasText: 'Encore?' })
        .waitFor({ timeout: TIMEOUT + 5000 });
    }
  });

  test('a server restart mid-session loses and duplicates nothing', async () => {
    const room = roomName('restart');
    const ann = await user('ann');
    const bob = await user('bob');
    // Ann's WebSocket goes through the test, so that it can keep her away for a while
    // after the restart (her reconnects are refused with a transient close code).
    let holdAnn = false;
    await ann.page.routeWebSocket(/\/public-chat\/ws/, (ws) => {
      if (holdAnn) ws.close({ code: 4000, reason: 'held by the test' });
      else ws.connectToServer();
    });
    await join(ann.page, { room, username: 'Ann' });
    await join(bob.page, { room, username: 'Bob' });

    await send(ann.page, 'before 1 (Ann)');
    await send(bob.page, 'before 2 (Bob)');
    const before = ['before 1 (Ann)', 'before 2 (Bob)'];
    await waitTexts(ann.page, before);
    await waitTexts(bob.page, before);

    // A crash: no goodbye to the clients.
    holdAnn = true;
    await server.stop('SIGKILL');
    for (const { page } of [ann, bob]) {
      await page.waitForSelector('[data-testid="connection-state"][data-state="reconnecting"]');
    }
    await server.start();
    await waitConnected(bob.page);
    assert.equal(
      await ann.page.getByTestId('connection-state').getAttribute('data-state'),
      'reconnecting',
    );

    // Bob talks while Ann is away: she gets it on her return (recovery), once.
    await send(bob.page, 'while away 1 (Bob)');
    await send(bob.page, 'while away 2 (Bob)');
    holdAnn = false;
    await ann.page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', {
      timeout: 2 * TIMEOUT,
    });
    const away = ['while away 1 (Bob)', 'while away 2 (Bob)'];
    await waitTexts(ann.page, [...before, ...away]);
    // Recovered from the stream (same epoch after the restart), not reloaded with a notice.
    assert.equal(await ann.page.getByTestId('notice').count(), 0);

    await send(bob.page, 'after 1 (Bob)');
    await send(ann.page, 'after 2 (Ann)');
    const all = [...before, ...away, 'after 1 (Bob)', 'after 2 (Ann)'];
    await waitTexts(ann.page, all);
    await waitTexts(bob.page, all);
    for (const { page } of [ann, bob]) {
      const ids = (await messages(page)).map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, 'no message id twice');
    }

    // The stored history has each exactly once too.
    const cara = await user('cara');
    await join(cara.page, { room, username: 'Cara' });
    await waitTexts(cara.page, all);
  });

  test('HTML in a message or a name is shown as text', async () => {
    const room = roomName('xss');
    const ann = await user('ann');
    const bob = await user('bob');
    const evil = '<img src=x onerror=alert(1)>';
    await join(ann.page, { room, username: '<b>Mallory</b>' });
    await join(bob.page, { room, username: 'Bob' });
    await send(ann.page, evil);

    await waitTexts(bob.page, [evil]);
    const item = messageWith(bob.page, evil);
    assert.equal(await item.getByTestId('message-text').textContent(), evil);
    assert.equal(await item.getByTestId('message-author').textContent(), '<b>Mallory</b>');
    assert.equal(await bob.page.locator('[data-testid="message-list"] img').count(), 0);
    assert.equal(await bob.page.locator('[data-testid="message-list"] b').count(), 0);
    await bob.page.waitForTimeout(300);
    assert.deepEqual([...ann.problems, ...bob.problems], [], 'no script ran, no dialog opened');
  });

  test("the server's error text is shown as a notice", async () => {
    const room = roomName('errors');
    const ann = await user('ann');
    await join(ann.page, { room, username: 'Ann' });
    // Faster than the reaction rate limit (10/s, burst 20) allows.
    await ann.page.getByTestId('reaction-clap').evaluate((button) => {
      for (let i = 0; i < 40; i++) /** @type {HTMLButtonElement} */ (button).click();
    });
    const notice = ann.page.getByTestId('notice-text').first();
    await notice.waitFor();
    // The server's own text for error 108 (rate_limited), repeated reports counted once.
    assert.match((await notice.textContent()) ?? '', /rate|fast|slow|limit/i);
    assert.equal(await ann.page.getByTestId('notice').count(), 1);
  });

  test('a join the server refuses returns to the form with its reason', async () => {
    const ann = await user('ann');
    // Zero-width space: the server refuses such usernames (docs/protocol.md §3).
    await ann.page.goto('/');
    await ann.page.getByTestId('join-room').fill(roomName('refused'));
    await ann.page.getByTestId('join-username').fill('An\u200bn');
    await ann.page.getByTestId('join-submit').click();
    const error = ann.page.getByTestId('join-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /user ?name/i);
  });
});
