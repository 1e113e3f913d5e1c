// @ts-check
/**
 * Replies and mentions in the demo (issue #11, items 8 and 11) in Chromium against a real
 * server, with two users in separate browser contexts: the Reply action and its bar above
 * the composer, the quote a reply shows (also after a reload, and "a message not loaded"
 * until the original is paged in), the highlight of a message that mentions the viewer, and
 * the "You were mentioned" notice when the mention arrives out of view or in a hidden tab.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TIMEOUT, browserSuite, join, rawSession, roomName, send, waitConnected, waitTexts } from './helpers.mjs';

// No message rate: one test fills more than a history page over a raw WebSocket.
const suite = browserSuite({ env: { PCHAT_RATE_MESSAGES: 'none' } });
const user = suite.user;

/**
 * Ann and Bob, both joined to a new room.
 * @param {string} label
 */
async function annAndBob(label) {
  const room = roomName(label);
  const ann = await user('ann');
  const bob = await user('bob');
  await join(ann.page, { room, username: 'Ann' });
  await join(bob.page, { room, username: 'Bob' });
  return { room, ann, bob };
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

/**
 * The texts of the notices shown now.
 * @param {import('playwright-core').Page} page
 */
function noticeTexts(page) {
  return page.getByTestId('notice-text').allTextContents();
}

/**
 * Make the page's document report itself hidden or visible, as a background tab's does,
 * and tell it (`visibilitychange`).
 * @param {import('playwright-core').Page} page
 * @param {boolean} hidden
 */
async function setHidden(page, hidden) {
  await page.evaluate((value) => {
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: () => (value ? 'hidden' : 'visible'),
    });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/**
 * Over a raw WebSocket in a page of its own, user `sub` joins `room` and sends each text in
 * turn: a string, or `{ text, replyTo }` where `replyTo` indexes an earlier text.
 * @param {string} room
 * @param {string} sub
 * @param {(string | { text: string, replyTo: number })[]} texts
 * @returns {Promise<string[]>} the messages' ids, in order
 */
async function sendRaw(room, sub, texts) {
  const { page } = await user(sub);
  const session = await rawSession(page, { room, sub, username: sub });
  /** @type {string[]} */
  const ids = [];
  for (const item of texts) {
    const frame =
      typeof item === 'string'
        ? { type: 'send', text: item }
        : { type: 'send', text: item.text, reply_to: ids[item.replyTo] };
    ids.push((await session.request(frame)).message.id);
  }
  await session.close();
  return ids;
}

describe('replies and mentions', { timeout: 8 * TIMEOUT }, () => {
  test('a reply made with the Reply action shows its quote to both users', async () => {
    const { ann, bob } = await annAndBob('reply');
    const question = 'Is the stream starting soon?';
    await send(ann.page, question);
    await waitTexts(bob.page, [question]);
    const originalId = await messageWith(bob.page, question).getAttribute('data-message-id');

    // Reply opens the bar above the composer, with the field focused; × cancels it.
    await messageWith(bob.page, question).getByTestId('message-reply').click();
    const bar = bob.page.getByTestId('reply-bar');
    await bar.waitFor();
    assert.equal(await bar.getAttribute('data-reply-to'), originalId);
    assert.equal(await bar.getByTestId('reply-bar-author').textContent(), 'Ann');
    assert.equal(await bar.getByTestId('reply-bar-excerpt').textContent(), question);
    assert.match((await bar.textContent()) ?? '', /^Replying to Ann: Is the stream/);
    assert.equal(
      await bob.page.evaluate(() => document.activeElement?.getAttribute('data-testid')),
      'composer-input',
    );
    await bar.getByTestId('reply-cancel').click();
    await bar.waitFor({ state: 'detached' });
    // Escape cancels it too.
    await messageWith(bob.page, question).getByTestId('message-reply').click();
    await bar.waitFor();
    await bob.page.getByTestId('composer-input').press('Escape');
    await bar.waitFor({ state: 'detached' });

    // Reply, write, send: the bar goes, and the reply carries its quote.
    await messageWith(bob.page, question).getByTestId('message-reply').click();
    await send(bob.page, 'In five minutes');
    await bar.waitFor({ state: 'detached' });
    await waitTexts(ann.page, [question, 'In five minutes']);
    for (const { page } of [ann, bob]) {
      const reply = messageWith(page, 'In five minutes');
      assert.equal(await reply.getAttribute('data-reply-to'), originalId);
      const quote = reply.getByTestId('reply-quote');
      assert.equal(await quote.getByTestId('reply-quote-author').textContent(), 'Ann');
      assert.equal(await quote.getByTestId('reply-quote-text').textContent(), question);
      // The original is no reply.
      assert.equal(await messageWith(page, question).getByTestId('reply-quote').count(), 0);
    }
    // The quote brings the original into view, highlighted for a moment.
    await messageWith(ann.page, 'In five minutes').getByTestId('reply-quote').click();
    await ann.page.locator(`[data-testid="message"].flash[data-message-id="${originalId}"]`).waitFor();

    // From history too: after a reload the reply still quotes the original.
    await ann.page.reload();
    await waitConnected(ann.page);
    await waitTexts(ann.page, [question, 'In five minutes']);
    const quote = messageWith(ann.page, 'In five minutes').getByTestId('reply-quote');
    assert.equal(await quote.getByTestId('reply-quote-text').textContent(), question);
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });

  test('a message that mentions a user is highlighted for that user only', async () => {
    const { ann, bob } = await annAndBob('mention');
    await send(ann.page, 'hi all');
    await send(bob.page, '@Ann hello');
    await waitTexts(ann.page, ['hi all', '@Ann hello']);

    const annCopy = messageWith(ann.page, '@Ann hello');
    assert.equal(await annCopy.getAttribute('data-mentions-me'), 'true');
    assert.equal(await annCopy.getByTestId('mention-label').textContent(), 'mentions you: ');
    assert.match(await annCopy.evaluate((el) => el.className), /\bmentions-me\b/);
    // Its accessible text says so before the text itself.
    assert.equal(
      await annCopy.locator('.bubble').evaluate((el) => el.textContent),
      'mentions you: @Ann hello',
    );
    const bobCopy = messageWith(bob.page, '@Ann hello');
    assert.equal(await bobCopy.getAttribute('data-mentions-me'), 'false');
    assert.equal(await bobCopy.getByTestId('mention-label').count(), 0);
    assert.equal(await messageWith(ann.page, 'hi all').getAttribute('data-mentions-me'), 'false');
    // Ann saw it arrive (the list follows the newest message): no notice.
    assert.deepEqual(await noticeTexts(ann.page), []);

    // In a hidden tab the mention is told when the tab is shown again.
    await setHidden(ann.page, true);
    await send(bob.page, 'are you there, @ann?');
    await messageWith(ann.page, 'are you there, @ann?').waitFor();
    assert.equal(
      await messageWith(ann.page, 'are you there, @ann?').getAttribute('data-mentions-me'),
      'true',
    );
    assert.deepEqual(await noticeTexts(ann.page), []);
    await setHidden(ann.page, false);
    await ann.page.getByTestId('notice-text').getByText('You were mentioned by Bob').waitFor();
    await ann.page.getByTestId('notice').getByRole('button', { name: 'Dismiss' }).click();

    // Out of view (scrolled up to older messages) the mention is told at once.
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n');
    await send(bob.page, lines);
    await messageWith(ann.page, lines).waitFor();
    await ann.page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: 0 }));
    await send(bob.page, '@Ann look down here');
    await ann.page.getByTestId('notice-text').getByText('You were mentioned by Bob').waitFor();
    assert.deepEqual(await noticeTexts(bob.page), []);
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });

  test('a reply to a message not held says so until the original is loaded', async () => {
    const room = roomName('not-loaded');
    const original = 'the very first message';
    // The original, 49 others and a reply to it: a history page (50) holds all but the original.
    const fillers = Array.from({ length: 49 }, (_, i) => `filler ${i + 1}`);
    await sendRaw(room, 'ann', [original, ...fillers, { text: 'late reply', replyTo: 0 }]);

    const cara = await user('cara');
    await join(cara.page, { room, username: 'Cara' });
    await waitTexts(cara.page, [...fillers, 'late reply']);
    const quote = messageWith(cara.page, 'late reply').getByTestId('reply-quote');
    assert.equal(await quote.textContent(), 'In reply to a message not loaded');
    // Scrolling to the top loads the older page: the quote now shows the original.
    await cara.page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: 0 }));
    await waitTexts(cara.page, [original, ...fillers, 'late reply']);
    await quote.getByTestId('reply-quote-text').getByText(original, { exact: true }).waitFor();
    assert.equal(await quote.getByTestId('reply-quote-author').textContent(), 'ann');
    assert.deepEqual(cara.problems, []);
  });
});
