// @ts-check
/**
 * Reports and the review queue in the demo (issue #11, items 4, 6, 9 and 11), in Chromium
 * against a real server (PCHAT_REPORTS_TO_HIDE=2), each person in a browser context of their
 * own: viewers report a message until it is hidden from viewers and marked for the moderator,
 * who dismisses (shown again) or deletes it from the report queue; hold mode keeps a
 * viewer's message pending until the moderator approves it (it reaches everyone) or rejects
 * it (the viewer is told); the chat delay shows a viewer's message to the others only after
 * its seconds, the moderator seeing it in the queue meanwhile.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TIMEOUT,
  browserSuite,
  join,
  messageWith,
  rawSession,
  roomName,
  send,
  waitConnected,
  waitSettings,
  waitTexts,
} from './helpers.mjs';

const REPORTS_TO_HIDE = 2;
const suite = browserSuite({ env: { PCHAT_REPORTS_TO_HIDE: String(REPORTS_TO_HIDE) } });
const user = suite.user;

/**
 * A room with a moderator (Moe) and viewers, all joined.
 * @param {string} label
 * @param {string[]} viewers
 */
async function roomWith(label, viewers) {
  const room = roomName(label);
  const moe = await user('moe');
  await join(moe.page, { room, username: 'Moe', role: 'moderator' });
  const people = [];
  for (const name of viewers) {
    const person = await user(name.toLowerCase());
    await join(person.page, { room, username: name });
    people.push(person);
  }
  return { room, moe, people };
}

/**
 * Report the message holding `text` from its menu, with `reason`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 * @param {string} reason
 */
async function report(page, text, reason) {
  const message = messageWith(page, text);
  await message.getByTestId('message-menu-toggle').click();
  await message.getByTestId('message-report').click();
  await message.getByTestId('report-reason').fill(reason);
  await message.getByTestId('report-send').click();
  await message.getByTestId('report-form').waitFor({ state: 'detached' });
}

/**
 * Type and send a message that the room holds: waits until it is shown as pending.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function sendHeld(page, text) {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-send').click();
  const pending = pendingWith(page, text);
  await pending.waitFor();
  return pending;
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
function pendingWith(page, text) {
  return page
    .getByTestId('pending-message')
    .filter({ has: page.getByTestId('pending-text').getByText(text, { exact: true }) });
}

/**
 * The review queue's item holding `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
function heldWith(page, text) {
  return page
    .getByTestId('held-item')
    .filter({ has: page.getByTestId('held-text').getByText(text, { exact: true }) });
}

describe('reports and the review queue', { timeout: 10 * TIMEOUT }, () => {
  test('reports: counted in the queue, hidden at the threshold, dismissed or deleted', async () => {
    const { moe, people } = await roomWith('reports', ['Val', 'Tia', 'Uma']);
    const [val, tia, uma] = people;
    await send(val.page, 'buy cheap followers');
    await waitTexts(uma.page, ['buy cheap followers']);
    await moe.page.getByTestId('reports-empty').waitFor();

    // One report: in the moderator's queue with its reason, still shown to everyone.
    await report(tia.page, 'buy cheap followers', 'spam');
    await tia.page.getByTestId('notice-text').getByText(/^Reported/).waitFor();
    const item = moe.page.getByTestId('report-item');
    await moe.page.waitForSelector('[data-testid="report-item"][data-count="1"]');
    assert.equal(await item.getAttribute('data-hidden'), 'false');
    assert.equal(await item.getByTestId('report-count').textContent(), 'reported once');
    assert.deepEqual(await item.getByTestId('report-reasons').locator('li').allTextContents(), [
      'spam',
    ]);
    // The queue is the server's: a moderator joining (here: reloading) gets it.
    await moe.page.reload();
    await waitConnected(moe.page);
    await moe.page.waitForSelector('[data-testid="report-item"][data-count="1"]');
    // A message is reported once: the menu says so.
    const reported = messageWith(tia.page, 'buy cheap followers');
    await reported.getByTestId('message-menu-toggle').click();
    assert.equal(await reported.getByTestId('message-report').textContent(), 'Reported');
    assert.ok(await reported.getByTestId('message-report').isDisabled());
    await reported.getByTestId('message-menu-toggle').click();
    await waitTexts(uma.page, ['buy cheap followers']);

    // The second reaches the threshold: hidden from viewers, kept and marked for Moe.
    await report(uma.page, 'buy cheap followers', 'scam');
    await moe.page.waitForSelector(
      '[data-testid="report-item"][data-count="2"][data-hidden="true"]',
    );
    assert.deepEqual(await item.getByTestId('report-reasons').locator('li').allTextContents(), [
      'scam',
      'spam',
    ]);
    await waitTexts(tia.page, []);
    await waitTexts(uma.page, []);
    const marked = messageWith(moe.page, 'buy cheap followers');
    await moe.page.waitForSelector('[data-testid="message"][data-hidden="true"]');
    assert.equal(await marked.getByTestId('mark-hidden').textContent(), 'hidden by reports');

    // Dismissed: shown again to the viewers, the queue empty, the mark gone.
    await item.getByTestId('report-dismiss').click();
    await moe.page.getByTestId('reports-empty').waitFor();
    await waitTexts(tia.page, ['buy cheap followers']);
    await waitTexts(uma.page, ['buy cheap followers']);
    await marked.getByTestId('mark-hidden').waitFor({ state: 'detached' });

    // Another one, deleted from the queue: deleted for everyone.
    await send(val.page, 'click my link');
    await report(tia.page, 'click my link', '');
    await moe.page.waitForSelector('[data-testid="report-item"][data-count="1"]');
    assert.equal(await item.getByTestId('report-reasons').count(), 0, 'no reason given');
    await item.getByTestId('report-delete').click();
    await moe.page.getByTestId('reports-empty').waitFor();
    for (const u of [moe, val, tia, uma]) await waitTexts(u.page, ['buy cheap followers']);
    await tia.page.waitForSelector('[data-testid="message"][data-deleted="true"]');

    // Both decisions are in the log.
    await moe.page.getByTestId('mod-log').locator('summary').click();
    await moe.page.locator('[data-testid="mod-log-entry"][data-action="report_delete"]').waitFor();
    await moe.page.locator('[data-testid="mod-log-entry"][data-action="report_dismiss"]').waitFor();
    for (const u of [moe, val, tia, uma]) assert.deepEqual(u.problems, [], u.label);
  });

  test('hold mode: pending until approved (all see it) or rejected (told)', async () => {
    const { moe, people } = await roomWith('hold', ['Val', 'Tia']);
    const [val, tia] = people;
    await moe.page.getByTestId('hold-mode').click();
    await waitSettings(moe.page, { hold: true });
    await val.page.getByTestId('hold-hint').getByText(/^Hold mode/).waitFor();
    await moe.page.getByTestId('held-empty').waitFor();

    // Pending on Val's side, in Moe's queue, nowhere for Tia.
    const pending = await sendHeld(val.page, 'may I say this?');
    assert.equal(await pending.getAttribute('data-state'), 'review');
    assert.match(
      (await pending.getByTestId('pending-status').textContent()) ?? '',
      /Pending review/,
    );
    const held = heldWith(moe.page, 'may I say this?');
    await held.waitFor();
    assert.equal(await held.getByTestId('held-reason').textContent(), 'hold mode');
    assert.equal(await messageWith(moe.page, 'may I say this?').count(), 0);
    assert.equal(await messageWith(tia.page, 'may I say this?').count(), 0);
    // The queue is the server's: a moderator joining (here: reloading) gets it.
    await moe.page.reload();
    await waitConnected(moe.page);
    await held.waitFor();

    // Approved: it enters the room for everyone, Val's pending copy goes.
    await held.getByTestId('held-approve').click();
    await moe.page.getByTestId('held-empty').waitFor();
    await pending.waitFor({ state: 'detached' });
    await waitTexts(val.page, ['may I say this?']);
    assert.equal(await messageWith(val.page, 'may I say this?').getAttribute('data-mine'), 'true');
    await waitTexts(tia.page, ['may I say this?']);
    await waitTexts(moe.page, ['may I say this?']);

    // Rejected with a reason: Val is told, nobody ever sees it.
    const second = await sendHeld(val.page, 'something rude');
    const rejected = heldWith(moe.page, 'something rude');
    await rejected.getByTestId('held-reject').click();
    await rejected.getByTestId('held-reject-reason').fill('off topic');
    await rejected.getByTestId('held-reject-confirm').click();
    await moe.page.getByTestId('held-empty').waitFor();
    await second.waitFor({ state: 'detached' });
    await val.page
      .getByTestId('notice-text')
      .getByText('Your message “something rude” was rejected by a moderator: off topic')
      .waitFor();
    await send(moe.page, 'moderators are exempt');
    for (const u of [moe, val, tia]) {
      await waitTexts(u.page, ['may I say this?', 'moderators are exempt']);
    }

    // Off again: Val writes straight into the room.
    await moe.page.getByTestId('hold-mode').click();
    await waitSettings(moe.page, { hold: false });
    await val.page.getByTestId('hold-hint').waitFor({ state: 'detached' });
    await send(val.page, 'free again');
    await waitTexts(tia.page, ['may I say this?', 'moderators are exempt', 'free again']);
    await moe.page.getByTestId('mod-log').locator('summary').click();
    await moe.page.locator('[data-testid="mod-log-entry"][data-action="review_reject"]').waitFor();
    await moe.page.locator('[data-testid="mod-log-entry"][data-action="review_approve"]').waitFor();
    for (const u of [moe, val, tia]) assert.deepEqual(u.problems, [], u.label);
  });

  test('the word filter holds a message for review until a moderator decides', async () => {
    const { room, moe, people } = await roomWith('filter', ['Val']);
    const [val] = people;
    // An admin adds a `hold` entry behind the demo's back (the demo has no filter tools).
    const ada = await user('ada');
    const admin = await rawSession(ada.page, {
      room,
      sub: 'ada-admin',
      username: 'Ada',
      role: 'admin',
    });
    await admin.request({ type: 'filter_add', pattern: 'giveaway', action: 'hold' });

    await send(val.page, 'just chatting');
    const pending = await sendHeld(val.page, 'free giveaway here');
    assert.equal(await pending.getAttribute('data-reason'), 'filter');
    assert.equal(await pending.getAttribute('data-state'), 'review');
    const held = heldWith(moe.page, 'free giveaway here');
    await held.waitFor();
    assert.equal(await held.getAttribute('data-reason'), 'filter');
    assert.equal(await held.getByTestId('held-reason').textContent(), 'word filter');

    // Rejected without a reason: the notice says so plainly.
    await held.getByTestId('held-reject').click();
    await held.getByTestId('held-reject-confirm').click();
    await pending.waitFor({ state: 'detached' });
    await val.page
      .getByTestId('notice-text')
      .getByText('Your message “free giveaway here” was rejected by a moderator.', { exact: true })
      .waitFor();
    await send(moe.page, 'moving on');
    await waitTexts(val.page, ['just chatting', 'moving on']);
    await moe.page.getByTestId('held-empty').waitFor();
    for (const u of [moe, val]) assert.deepEqual(u.problems, [], u.label);
  });

  test('chat delay: the others see a viewer message its seconds later', async () => {
    const delay = 10;
    const { moe, people } = await roomWith('delay', ['Val', 'Tia']);
    const [val, tia] = people;
    await moe.page.getByTestId(`chat-delay-${delay}`).click();
    await waitSettings(moe.page, { delay });
    await val.page.getByTestId('hold-hint').getByText(/^Chat delay: .* 10 s later/).waitFor();

    const sentAt = Date.now();
    const pending = await sendHeld(val.page, 'a little late');
    assert.equal(await pending.getAttribute('data-state'), 'delayed');
    assert.match(
      (await pending.getByTestId('pending-status').textContent()) ?? '',
      /^Delayed: others see it in 0:(0\d|10)$/,
    );
    // The moderator sees it at once, in the queue, with its release time.
    const held = heldWith(moe.page, 'a little late');
    await held.waitFor();
    assert.match((await held.getByTestId('held-reason').textContent()) ?? '', /^chat delay · /);
    assert.equal(await messageWith(tia.page, 'a little late').count(), 0);

    // Released by itself: everyone has it, not before the delay.
    await waitTexts(tia.page, ['a little late']);
    const elapsed = Date.now() - sentAt;
    assert.ok(elapsed >= (delay - 1) * 1000, `arrived after ${elapsed} ms`);
    await waitTexts(val.page, ['a little late']);
    await pending.waitFor({ state: 'detached' });
    await moe.page.getByTestId('held-empty').waitFor();
    await waitTexts(moe.page, ['a little late']);
    for (const u of [moe, val, tia]) assert.deepEqual(u.problems, [], u.label);
  });
});
