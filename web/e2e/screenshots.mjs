// @ts-check
/**
 * Screenshots of the demo for the docs: `npm run build && npm run screenshots`.
 * Writes docs/screenshots/*.png from a real server and Chromium, like the e2e tests.
 */
import { mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import {
  PchatServer,
  WEB_DIR,
  join,
  launchBrowser,
  newUser,
  send,
  waitTexts,
} from './helpers.mjs';

const OUT = joinPath(WEB_DIR, '..', 'docs', 'screenshots');
mkdirSync(OUT, { recursive: true });

const server = await new PchatServer().start();
const browser = await launchBrowser();
try {
  const room = 'launch-party';
  const ann = await newUser(browser, server.url);
  const bob = await newUser(browser, server.url);
  const moe = await newUser(browser, server.url);

  // The join screen, filled in.
  await ann.page.goto('/');
  await ann.page.getByTestId('join-room').fill(room);
  await ann.page.getByTestId('join-username').fill('Ann');
  await ann.page.getByTestId('join-role-viewer').check({ force: true });
  await ann.page.screenshot({ path: joinPath(OUT, 'join.png') });

  await ann.page.getByTestId('join-submit').click();
  await join(bob.page, { room, username: 'Bob Stone' });
  await join(moe.page, { room, username: 'Moe', role: 'moderator' });

  const script = [
    [moe, 'Welcome to the launch party! Doors open in 5 minutes 🎉'],
    [ann, 'Hi everyone! Streaming from Lisbon 👋'],
    [bob, 'Hey Ann! Can you hear the sound check?'],
    [ann, 'Loud and clear.'],
    [bob, 'Buy cheap followers at spam.example'],
    [ann, 'Is the recording going to be online later?'],
    [moe, 'Yes — the recording will be up tomorrow.'],
    [bob, '<img src=x onerror=alert(1)> ← HTML shows as plain text'],
  ];
  const texts = [];
  for (const [who, text] of /** @type {[typeof ann, string][]} */ (script)) {
    await send(who.page, text);
    texts.push(text);
    await waitTexts(ann.page, texts);
  }
  // The moderator removes the spam.
  await moe.page
    .getByTestId('message')
    .filter({ hasText: 'spam.example' })
    .getByTestId('message-delete')
    .click();
  await ann.page.locator('[data-testid="message"][data-deleted="true"]').waitFor();

  for (const [page, reaction, times] of /** @type {const} */ ([
    [ann.page, 'love', 3],
    [bob.page, 'fire', 5],
    [moe.page, 'clap', 2],
    [bob.page, 'like', 4],
  ])) {
    for (let i = 0; i < times; i++) await page.getByTestId(`reaction-${reaction}`).click();
  }
  await ann.page.waitForSelector('[data-testid="reaction-count-like"][data-count="4"]');

  // Polls: one finished, one open with votes, one scheduled.
  /**
   * @param {string} question
   * @param {string[]} options
   * @param {boolean} [scheduled]
   */
  async function createPoll(question, options, scheduled = false) {
    await moe.page.getByTestId('poll-new').click();
    await moe.page.getByTestId('poll-form-question').fill(question);
    for (let i = 2; i < options.length; i++) {
      await moe.page.getByTestId('poll-form-add-option').click();
    }
    const inputs = moe.page.getByTestId('poll-form-option');
    for (const [i, option] of options.entries()) await inputs.nth(i).fill(option);
    if (scheduled) await moe.page.getByTestId('poll-form-schedule').check();
    await moe.page.getByTestId('poll-form-submit').click();
    await moe.page.getByTestId('poll').filter({ hasText: question }).waitFor();
  }
  /**
   * @param {import('playwright-core').Page} page
   * @param {string} question
   * @param {number} option
   */
  async function vote(page, question, option) {
    const poll = page.getByTestId('poll').filter({ hasText: question });
    await poll.getByTestId('poll-option').nth(option).click();
    await poll.getByTestId('poll-my-vote').waitFor();
  }

  await createPoll('Which city next year?', ['Lisbon', 'Berlin', 'Tokyo']);
  await vote(ann.page, 'Which city next year?', 2);
  await vote(bob.page, 'Which city next year?', 2);
  await vote(moe.page, 'Which city next year?', 0);
  await moe.page
    .getByTestId('poll')
    .filter({ hasText: 'Which city next year?' })
    .getByTestId('poll-finish')
    .click();
  await createPoll('What should we play first?', ['The new single', 'An old favourite', 'A cover']);
  await vote(ann.page, 'What should we play first?', 0);
  await vote(bob.page, 'What should we play first?', 1);
  await createPoll('Encore?', ['Yes!', 'Of course'], true);
  await ann.page
    .locator('[data-testid="poll-total"][data-total="2"]')
    .first()
    .waitFor();
  await ann.page.waitForTimeout(1500); // let the reaction bursts float away

  await ann.page.screenshot({ path: joinPath(OUT, 'chat-ann.png') });
  await bob.page.screenshot({ path: joinPath(OUT, 'chat-bob.png') });
  await moe.page.screenshot({ path: joinPath(OUT, 'polls-moderator.png') });

  // The poll form, open.
  await moe.page.getByTestId('poll-new').click();
  await moe.page.getByTestId('poll-form-question').fill('Best song of the night?');
  await moe.page.getByTestId('poll-form-option').nth(0).fill('Opening act');
  await moe.page.getByTestId('poll-form-option').nth(1).fill('Closing act');
  await moe.page.getByTestId('polls-panel').screenshot({ path: joinPath(OUT, 'poll-form.png') });

  // The connection badge while the server is away.
  await server.stop('SIGKILL');
  await ann.page.waitForSelector('[data-testid="connection-state"][data-state="reconnecting"]');
  await ann.page.screenshot({ path: joinPath(OUT, 'reconnecting.png') });
  await server.start();
  await ann.page.waitForSelector('[data-testid="connection-state"][data-state="connected"]');

  // A narrow screen.
  await bob.page.waitForSelector('[data-testid="connection-state"][data-state="connected"]');
  await bob.page.setViewportSize({ width: 420, height: 860 });
  await bob.page.screenshot({ path: joinPath(OUT, 'mobile.png') });

  // Moderation: an announcement pinned, slow mode on, the tools of Bob's message open; then
  // Bob timed out, as he sees it.
  await bob.page.setViewportSize({ width: 1200, height: 800 });
  await moe.page.getByTestId('poll-form').getByRole('button', { name: 'Cancel' }).click();
  await moe.page.getByTestId('announcement-input').fill('Doors open at 8 pm. Be kind in the chat!');
  await moe.page.getByTestId('announcement-pin').click();
  await bob.page.getByTestId('pinned-banner').waitFor();
  await moe.page.getByTestId('slow-mode-30').click();
  await moe.page.waitForSelector('[data-testid="room-settings"][data-slow-mode="30"]');
  const bobs = moe.page.getByTestId('message').filter({ hasText: 'hear the sound check?' });
  await bobs.getByTestId('message-mod-toggle').click();
  await moe.page.screenshot({ path: joinPath(OUT, 'moderation.png') });
  await bobs.getByTestId('mod-timeout').click();
  await bobs.getByTestId('mod-confirm').click();
  await bob.page.getByTestId('ban-notice').waitFor();
  await bob.page.waitForTimeout(1200);
  await bob.page.screenshot({ path: joinPath(OUT, 'timed-out.png') });

  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await server.dispose();
}
