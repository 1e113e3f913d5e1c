// @ts-check
/**
 * A busy room in the demo (issue #14, item 4), in Chromium against a real server whose
 * sampling thresholds are lowered (2 messages/s, rooms of 3 connections): while a bot posts
 * faster than that, a viewer is told "showing 1 in k messages" and stays connected with its
 * sample, its mentions shown; a moderator is told what viewers see; the notice goes away
 * once the room is quiet again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TIMEOUT,
  browserSuite,
  join,
  messages,
  rawSession,
  roomName,
  sleep,
  waitConnected,
} from './helpers.mjs';

const suite = browserSuite({
  env: {
    PCHAT_VIEWER_MAX_RATE: '2',
    PCHAT_SAMPLE_MIN_MEMBERS: '3',
    PCHAT_RATE_MESSAGES: 'none',
    PCHAT_RATE_FRAMES: 'none',
  },
});

describe('a busy room', { timeout: 6 * TIMEOUT }, () => {
  test('viewers are told they see a sample, and see it', async () => {
    const room = roomName('busy');
    const val = await suite.user('val');
    const moe = await suite.user('moe');
    const bot = await suite.user('bot');
    await join(val.page, { room, username: 'Val' });
    await join(moe.page, { room, username: 'Moe', role: 'moderator' });
    const raw = await rawSession(bot.page, { room, sub: 'bot-1', username: 'Bot' });

    const notice = val.page.getByTestId('sampled-notice');
    let sent = 0;
    while (!(await notice.isVisible())) {
      assert.ok(sent < 200, 'never sampled');
      await raw.request({ type: 'send', text: `tick ${sent}` });
      sent += 1;
      await sleep(50);
    }
    for (let i = 0; i < 10; i += 1) {
      await raw.request({ type: 'send', text: `tick ${sent}` });
      sent += 1;
      await sleep(50);
    }
    await raw.request({ type: 'send', text: 'hey @Val' });
    await val.page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid="message-text"]')].some(
          (el) => el.textContent === 'hey @Val',
        ),
      undefined,
      { timeout: TIMEOUT },
    );
    assert.match((await notice.textContent()) ?? '', /^Busy room.*showing 1 in \d+ messages/);
    assert.match(
      (await moe.page.getByTestId('sampled-notice').textContent()) ?? '',
      /viewers see 1 in \d+ messages; you see them all/,
    );
    await val.page.screenshot({ path: '/tmp/pchat-sampled-viewer.png' }).catch(() => undefined);
    await waitConnected(val.page); // never reconnected for the gaps
    const shown = (await messages(val.page)).filter((m) => m.text.startsWith('tick'));
    const all = (await messages(moe.page)).filter((m) => m.text.startsWith('tick'));
    assert.equal(all.length, sent);
    assert.ok(shown.length > 0 && shown.length < all.length, `${shown.length} of ${all.length}`);

    // Quiet again: the notice goes away.
    await notice.waitFor({ state: 'detached', timeout: 2 * TIMEOUT });
    await raw.close();
  });
});
