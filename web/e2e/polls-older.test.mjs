// @ts-check
/**
 * Finished polls are paged (issue #8, finding 10): a connect reply carries the open polls
 * and only the newest finished ones, and the poll panel offers the older ones on request.
 * The server here puts 2 finished polls in a connect reply; a moderator finishes 5 first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TIMEOUT, browserSuite, join, rawSession, roomName, sleep } from './helpers.mjs';

const suite = browserSuite({ env: { PCHAT_RATE_POLLS: 'none', PCHAT_POLLS_IN_CONNECT: '2' } });
const user = suite.user;

/**
 * A moderator, over a raw WebSocket in a page, creates and finishes `count` polls.
 * @param {string} room
 * @param {number} count
 * @returns {Promise<string[]>} the polls' ids, oldest first
 */
async function finishedPolls(room, count) {
  const { page } = await user('moderator');
  const mod = await rawSession(page, { room, sub: 'mod-1', username: 'Mod', role: 'moderator' });
  const ids = [];
  for (let i = 0; i < count; i += 1) {
    const { poll } = await mod.request({ type: 'poll_create', question: `Q${i}?`, options: ['y', 'n'] });
    await mod.request({ type: 'poll_finish', poll_id: poll.id });
    ids.push(poll.id);
    await sleep(3); // one creation time each
  }
  await mod.close();
  return ids;
}

describe('older polls', { timeout: 6 * TIMEOUT }, () => {
  test('the panel shows the newest finished polls and pages the older on request', async () => {
    const room = roomName('older-polls');
    const ids = await finishedPolls(room, 5);
    const viewer = await user('viewer');
    await join(viewer.page, { room, username: 'Vic' });
    const cards = viewer.page.getByTestId('poll');
    await viewer.page.locator(`[data-testid="poll"][data-poll-id="${ids[4]}"]`).waitFor();
    assert.equal(await cards.count(), 2);
    await viewer.page.getByTestId('polls-older').click();
    await viewer.page.locator(`[data-testid="poll"][data-poll-id="${ids[0]}"]`).waitFor();
    assert.equal(await cards.count(), 5);
    assert.equal(await viewer.page.getByTestId('polls-older').count(), 0);
    assert.deepEqual(viewer.problems, []);
  });
});
