// @ts-check
/**
 * The demo keeps rendering whatever a panel is handed (issue #8, finding 10): a scheduled
 * poll whose `publish_at` is past any date JavaScript can hold used to throw in the poll
 * panel's date formatting and leave a blank page. The server now refuses a `publish_at`
 * more than 30 days ahead, so the absurd value is written into the frames on their way to
 * the page (an older or foreign server could send it); the poll itself is created by a
 * moderator client through the protocol.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TIMEOUT, browserSuite, join, rawSession, roomName, send } from './helpers.mjs';

/** 2^63 - 1 ms: what an unchecked 64-bit field can carry; far past Date's ±8.64e15 ms. */
const ABSURD = '9223372036854775807';

const suite = browserSuite();
const user = suite.user;

/**
 * A moderator creates a poll in `room` over a raw WebSocket opened in a browser page:
 * `connect`, then `poll_create` (scheduled a day ahead). Returns the created poll.
 * @param {string} room
 */
async function createScheduledPoll(room) {
  const { page } = await user('moderator');
  const mod = await rawSession(page, { room, sub: 'mod-1', username: 'Mod', role: 'moderator' });
  const { poll } = await mod.request({
    type: 'poll_create',
    question: 'When do we meet?',
    options: ['soon', 'later'],
    publish_at: Date.now() + 24 * 3600 * 1000,
  });
  await mod.close();
  return poll;
}

/**
 * Route the page's chat WebSocket through the test, rewriting every non-null `publish_at`
 * in the frames from the server to {@link ABSURD} (as text, so no rounding on the way).
 * @param {import('playwright-core').Page} page
 */
async function absurdPublishAt(page) {
  await page.routeWebSocket(/\/public-chat\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => upstream.send(message));
    upstream.onMessage((message) => {
      const text = typeof message === 'string' ? message : message.toString();
      ws.send(text.replace(/"publish_at":\s*[0-9]+/g, `"publish_at":${ABSURD}`));
    });
  });
}

describe('panels', { timeout: 10 * TIMEOUT }, () => {
  test('a scheduled poll with a publish_at past any date still renders', async () => {
    const room = roomName('absurd-date');
    const poll = await createScheduledPoll(room);
    assert.equal(poll.status, 'scheduled');

    const viewer = await user('viewer');
    await absurdPublishAt(viewer.page);
    // A moderator: scheduled polls are shown to moderators only.
    const card = viewer.page.locator(`[data-testid="poll"][data-poll-id="${poll.id}"]`);
    try {
      await join(viewer.page, { room, username: 'Vic', role: 'moderator' });
      await card.waitFor();
    } catch (error) {
      throw new Error(`the poll is not shown; the page: ${viewer.problems.join('; ')}`, {
        cause: error,
      });
    }
    assert.equal(await card.getAttribute('data-status'), 'scheduled');
    const opens = await card.getByTestId('poll-opens').textContent();
    assert.match(opens ?? '', /^opens \S/, `a readable time: ${opens}`);
    assert.equal(await viewer.page.getByTestId('panel-error').count(), 0);
    // The rest of the page works: the viewer can still chat.
    await send(viewer.page, 'still here');
    assert.deepEqual(viewer.problems, []);
  });

  test('a panel that throws shows a readable error and the others keep working', async () => {
    const room = roomName('panel-throws');
    const viewer = await user('viewer');
    // A panel bug, simulated: the reaction bar's number formatting throws while rendering.
    // (`format` is an accessor on the prototype: replaced by defining it.)
    await viewer.page.addInitScript(() => {
      Object.defineProperty(Intl.NumberFormat.prototype, 'format', {
        get() {
          return () => {
            throw new RangeError('simulated formatting failure');
          };
        },
      });
    });
    await join(viewer.page, { room, username: 'Val' });

    const error = viewer.page.locator('[data-testid="panel-error"][data-panel="reactions"]');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /simulated formatting failure/);
    await viewer.page.getByTestId('polls-panel').waitFor();
    await send(viewer.page, 'chat goes on');
  });
});
