// @ts-check
/**
 * Finished polls are paged (issue #8, finding 10): a connect reply carries the open polls
 * and only the newest finished ones, and the poll panel offers the older ones on request.
 * The server here puts 2 finished polls in a connect reply; a moderator finishes 5 first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TIMEOUT, browserSuite, join, roomName } from './helpers.mjs';

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
  await page.goto('/healthz');
  return page.evaluate(
    async ({ room, count }) => {
      const token = (await (await fetch('/demo/token?sub=mod-1&role=moderator')).json()).token;
      const ws = new WebSocket(`ws://${location.host}/public-chat/ws`);
      /** @type {Map<number, (frame: any) => void>} */
      const waiting = new Map();
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        waiting.get(frame.id)?.(frame);
      };
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      let id = 0;
      /** @param {Record<string, unknown>} frame @returns {Promise<any>} */
      const request = async (frame) => {
        id += 1;
        const reply = await new Promise((resolve) => {
          waiting.set(id, resolve);
          ws.send(JSON.stringify({ ...frame, id }));
        });
        if (reply.type !== 'reply') throw new Error(JSON.stringify(reply));
        return reply.result;
      };
      await request({ type: 'connect', room, username: 'Mod', token, role: 'moderator' });
      const ids = [];
      for (let i = 0; i < count; i += 1) {
        const { poll } = await request({ type: 'poll_create', question: `Q${i}?`, options: ['y', 'n'] });
        await request({ type: 'poll_finish', poll_id: poll.id });
        ids.push(poll.id);
        await new Promise((r) => setTimeout(r, 3)); // one creation time each
      }
      ws.close(1000);
      return ids;
    },
    { room, count },
  );
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
