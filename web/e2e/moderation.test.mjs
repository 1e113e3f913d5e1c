// @ts-check
/**
 * The demo's moderation tools (issue #11, first slice) in Chromium against a real server: a
 * moderator and viewers in separate browser contexts. Timeouts and bans (lifted from the
 * bans list), ban and remove (close 4506), purge, the pin (message and announcement), slow
 * mode, moderators-only and reactions-only modes, unique chat, and the moderation log.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TIMEOUT,
  browserSuite,
  join,
  messageWith,
  moderate,
  roomName,
  send,
  waitConnected,
  waitSettings,
  waitTexts,
} from './helpers.mjs';

const suite = browserSuite();
const user = suite.user;

/**
 * A room with a moderator (Moe) and a viewer (Val), both joined.
 * @param {string} label
 */
async function modAndViewer(label) {
  const room = roomName(label);
  const moe = await user('moe');
  const val = await user('val');
  await join(moe.page, { room, username: 'Moe', role: 'moderator' });
  await join(val.page, { room, username: 'Val' });
  return { room, moe, val };
}

/** `m:ss` as seconds. @param {string} text */
function seconds(text) {
  const match = /(\d+):(\d\d)/.exec(text);
  assert.ok(match, `no countdown in ${JSON.stringify(text)}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

describe('moderation', { timeout: 10 * TIMEOUT }, () => {
  test("a timeout: a live countdown replaces the viewer's composer until lifted", async () => {
    const { moe, val } = await modAndViewer('timeout');
    await send(val.page, 'buy followers now');
    await messageWith(moe.page, 'buy followers now').waitFor();

    // A destructive action asks first; Cancel does nothing.
    const message = messageWith(moe.page, 'buy followers now');
    await message.getByTestId('message-mod-toggle').click();
    await message.getByTestId('mod-timeout').click();
    assert.match(
      (await message.getByTestId('mod-question').textContent()) ?? '',
      /Time out Val for 10 minutes/,
    );
    await message.getByTestId('mod-cancel').click();
    await message.getByTestId('mod-tools').waitFor();
    await message.getByTestId('message-mod-toggle').click();
    await val.page.waitForTimeout(300);
    assert.equal(await val.page.getByTestId('ban-notice').count(), 0, 'cancel timed nobody out');

    await moderate(moe.page, 'buy followers now', 'timeout');
    const notice = val.page.getByTestId('ban-notice');
    await notice.waitFor();
    assert.equal(await notice.getAttribute('data-kind'), 'timeout');
    assert.match((await notice.textContent()) ?? '', /^You are timed out for (10:00|9:\d\d)/);
    assert.equal(await val.page.getByTestId('composer-input').count(), 0, 'no composer');
    // Reactions are refused while timed out: the bar is disabled.
    assert.ok(await val.page.getByTestId('reaction-like').isDisabled());
    // The countdown is live.
    const first = seconds((await val.page.getByTestId('ban-countdown').textContent()) ?? '');
    assert.ok(first > 590 && first <= 600, `countdown starts near 10:00, got ${first}`);
    await val.page.waitForFunction(
      (start) => {
        const text = document.querySelector('[data-testid="ban-countdown"]')?.textContent ?? '';
        const [m, s] = text.split(':').map(Number);
        return (m ?? 0) * 60 + (s ?? 0) < start;
      },
      first,
    );

    // The moderator lifts it from the bans list; the viewer writes again.
    await moe.page.getByTestId('bans').locator('summary').click();
    const ban = moe.page.getByTestId('ban');
    await ban.waitFor();
    assert.match((await ban.textContent()) ?? '', /Val.*timed out, (10:00|9:\d\d) left/);
    await ban.getByTestId('ban-lift').click();
    await moe.page.getByTestId('bans-empty').waitFor();
    await val.page.getByTestId('ban-notice').waitFor({ state: 'detached' });
    await send(val.page, 'sorry');
    assert.ok(await val.page.getByTestId('reaction-like').isEnabled());

    // The log has both, newest first, with names.
    await moe.page.getByTestId('mod-log').locator('summary').click();
    const entries = moe.page.getByTestId('mod-log-entry');
    await moe.page.waitForFunction(
      () => document.querySelectorAll('[data-testid="mod-log-entry"]').length === 2,
    );
    assert.deepEqual(
      await entries.evaluateAll((els) => els.map((el) => el.getAttribute('data-action'))),
      ['unban', 'timeout'],
    );
    assert.match((await entries.nth(1).textContent()) ?? '', /Moe timed out Val for 10 min/);
    assert.deepEqual([...moe.problems, ...val.problems], []);
  });

  test('a ban, then "ban and remove": the viewer is told a moderator removed them', async () => {
    const { moe, val } = await modAndViewer('ban');
    await send(val.page, 'first warning');
    await messageWith(moe.page, 'first warning').waitFor();

    await moderate(moe.page, 'first warning', 'ban');
    const notice = val.page.getByTestId('ban-notice');
    await notice.waitFor();
    assert.equal(await notice.getAttribute('data-kind'), 'ban');
    assert.match((await notice.textContent()) ?? '', /You are banned from writing in this room/);
    // Banned, Val still reads the room.
    await send(moe.page, 'still here?');
    await waitTexts(val.page, ['first warning', 'still here?']);

    await moderate(moe.page, 'first warning', 'kick');
    const removed = val.page.getByTestId('removed-notice');
    await removed.waitFor();
    assert.match((await removed.textContent()) ?? '', /A moderator removed you from this room/);
    await val.page.waitForSelector('[data-testid="connection-state"][data-state="disconnected"]');

    // Rejoining, Val reads but the ban still holds.
    await val.page.getByTestId('rejoin').click();
    await waitConnected(val.page);
    await val.page.getByTestId('ban-notice').waitFor();
    assert.equal(await val.page.getByTestId('removed-notice').count(), 0);
    await waitTexts(val.page, ['first warning', 'still here?']);
    assert.deepEqual(moe.problems, []);
  });

  test('a moderator acts only on lower roles: no ban tools on a moderator or admin', async () => {
    const { room, moe, val } = await modAndViewer('roles');
    const ada = await user('ada');
    const max = await user('max');
    await join(ada.page, { room, username: 'Ada', role: 'admin' });
    await join(max.page, { room, username: 'Max', role: 'moderator' });
    await send(ada.page, 'admin here');
    await send(max.page, 'other mod here');
    await send(moe.page, 'my own');
    await waitTexts(moe.page, ['admin here', 'other mod here', 'my own']);

    for (const text of ['admin here', 'other mod here', 'my own']) {
      const message = messageWith(moe.page, text);
      await message.getByTestId('message-mod-toggle').click();
      await message.getByTestId('mod-pin').waitFor();
      assert.equal(await message.getByTestId('mod-ban').count(), 0, `no ban on "${text}"`);
      assert.equal(await message.getByTestId('mod-timeout').count(), 0);
      await message.getByTestId('message-mod-toggle').click();
    }
    // The admin has them on the moderator's message; a viewer has no tools at all.
    const onMod = messageWith(ada.page, 'other mod here');
    await onMod.getByTestId('message-mod-toggle').click();
    await onMod.getByTestId('mod-ban').waitFor();
    await waitTexts(val.page, ['admin here', 'other mod here', 'my own']);
    assert.equal(await val.page.getByTestId('message-mod-toggle').count(), 0);
    assert.equal(await val.page.getByTestId('moderation-panel').count(), 0);
  });

  test("purge: every message of the spammer disappears from the viewers' lists", async () => {
    const { room, moe, val } = await modAndViewer('purge');
    const sam = await user('sam');
    await join(sam.page, { room, username: 'Sam' });
    await send(sam.page, 'spam one');
    await send(val.page, 'a real question');
    await send(sam.page, 'spam two');
    await send(sam.page, 'spam three');
    const all = ['spam one', 'a real question', 'spam two', 'spam three'];
    await waitTexts(val.page, all);
    await waitTexts(moe.page, all);

    const message = messageWith(moe.page, 'spam two');
    await message.getByTestId('message-mod-toggle').click();
    await message.getByTestId('mod-purge').click();
    assert.match(
      (await message.getByTestId('mod-question').textContent()) ?? '',
      /Delete every message Sam posted/,
    );
    await message.getByTestId('mod-confirm').click();

    await waitTexts(val.page, ['a real question']);
    await waitTexts(moe.page, ['a real question']);
    await waitTexts(sam.page, ['a real question']);
    // A newcomer's history has them deleted too.
    const nel = await user('nel');
    await join(nel.page, { room, username: 'Nel' });
    await waitTexts(nel.page, ['a real question']);
    assert.deepEqual([...moe.problems, ...val.problems, ...sam.problems], []);
  });

  test('the pin: a message, then an announcement, shown to the viewer and unpinned', async () => {
    const { room, moe, val } = await modAndViewer('pin');
    await send(val.page, 'the stream starts at 8');
    await messageWith(moe.page, 'the stream starts at 8').waitFor();

    await moderate(moe.page, 'the stream starts at 8', 'pin');
    const banner = val.page.getByTestId('pinned-banner');
    await banner.waitFor();
    assert.equal(await banner.getAttribute('data-kind'), 'message');
    assert.equal(await banner.getByTestId('pinned-text').textContent(), 'the stream starts at 8');
    assert.match((await banner.textContent()) ?? '', /Pinned message from Val/);
    assert.equal(await banner.getByTestId('unpin').count(), 0, 'viewers do not unpin');

    // An announcement replaces it; its text is text, never markup.
    const announcement = '<b>Doors open</b> at 8 pm';
    await moe.page.getByTestId('announcement-input').fill(announcement);
    await moe.page.getByTestId('announcement-pin').click();
    await val.page.waitForSelector('[data-testid="pinned-banner"][data-kind="announcement"]');
    assert.equal(await banner.getByTestId('pinned-text').textContent(), announcement);
    assert.equal(await val.page.locator('.pinned b').count(), 0);
    assert.match((await banner.textContent()) ?? '', /Announcement from Moe/);

    // A newcomer gets the pin with the connect reply.
    const nel = await user('nel');
    await join(nel.page, { room, username: 'Nel' });
    await nel.page.waitForSelector('[data-testid="pinned-banner"][data-kind="announcement"]');

    await moe.page.getByTestId('unpin').click();
    await banner.waitFor({ state: 'detached' });
    await nel.page.getByTestId('pinned-banner').waitFor({ state: 'detached' });
    assert.deepEqual([...moe.problems, ...val.problems], []);
  });

  test('slow mode: the viewer sees the hint and is held after one message', async () => {
    const { moe, val } = await modAndViewer('slow');
    await waitSettings(moe.page, { slowMode: 0, mode: 'open' });
    await moe.page.getByTestId('slow-mode-10').click();
    await waitSettings(moe.page, { slowMode: 10 });

    const hint = val.page.getByTestId('slow-mode-hint');
    await hint.waitFor();
    assert.match((await hint.textContent()) ?? '', /Slow mode: one message every 10 s/);
    // Moderators are exempt: no hint, a status line instead, and they send freely.
    assert.equal(await moe.page.getByTestId('slow-mode-hint').count(), 0);
    assert.match((await moe.page.getByTestId('mode-status').textContent()) ?? '', /slow mode 10 s/);
    await send(moe.page, 'mod one');
    await send(moe.page, 'mod two');

    await send(val.page, 'one message');
    const wait = val.page.getByTestId('send-wait');
    await wait.waitFor();
    assert.match((await wait.textContent()) ?? '', /You can write again in 0:(10|0\d)/);
    await val.page.getByTestId('composer-input').fill('too soon');
    assert.ok(await val.page.getByTestId('composer-send').isDisabled(), 'held after one message');

    // After a reload the page does not know; the server's retry_after_ms holds it again.
    await val.page.reload();
    await waitConnected(val.page);
    await val.page.getByTestId('slow-mode-hint').waitFor();
    await val.page.getByTestId('composer-input').fill('too soon');
    await val.page.getByTestId('composer-send').click();
    await val.page.getByTestId('send-wait').waitFor();
    assert.ok(await val.page.getByTestId('composer-send').isDisabled());
    assert.equal(await val.page.getByTestId('composer-input').inputValue(), 'too soon');

    // Slow mode off: the hint goes, and the wait runs out by itself.
    await moe.page.getByTestId('slow-mode-0').click();
    await val.page.waitForFunction(
      () => !document.querySelector('[data-testid="slow-mode-hint"] span:not(.wait)'),
    );
    const wait2 = val.page.getByTestId('send-wait');
    await wait2.waitFor({ state: 'detached', timeout: 12_000 + TIMEOUT });
    await val.page.getByTestId('composer-send').click();
    await messageWith(val.page, 'too soon').waitFor();
    assert.deepEqual(moe.problems, []);
  });

  test('moderators-only, reactions-only and unique chat, as the viewer sees them', async () => {
    const { moe, val } = await modAndViewer('modes');
    await moe.page.getByTestId('room-mode-moderators_only').click();
    const note = val.page.getByTestId('mode-notice');
    await note.waitFor();
    assert.equal(await note.getAttribute('data-kind'), 'moderators_only');
    assert.equal((await note.textContent())?.trim(), 'Only moderators can write now.');
    assert.equal(await val.page.getByTestId('composer-input').count(), 0);
    assert.ok(await val.page.getByTestId('reaction-like').isDisabled());
    await send(moe.page, 'the show starts soon');
    await waitTexts(val.page, ['the show starts soon']);

    await moe.page.getByTestId('room-mode-reactions_only').click();
    await val.page.waitForSelector('[data-testid="mode-notice"][data-kind="reactions_only"]');
    assert.match((await note.textContent()) ?? '', /Reactions only/);
    assert.equal(await val.page.getByTestId('composer-input').count(), 0);
    await val.page.getByTestId('reaction-fire').click();
    await moe.page.waitForSelector('[data-testid="reaction-count-fire"][data-count="1"]');

    // Open again, with unique chat: a repeated message is refused with the server's text.
    await moe.page.getByTestId('room-mode-open').click();
    await moe.page.getByTestId('unique-chat').click();
    await waitSettings(moe.page, { mode: 'open', uniqueChat: true });
    await note.waitFor({ state: 'detached' });
    await send(val.page, 'hello');
    await val.page.getByTestId('composer-input').fill('HELLO');
    await val.page.getByTestId('composer-send').click();
    const error = val.page.getByTestId('notice-text').first();
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /unique/i);
    assert.equal(await val.page.getByTestId('composer-input').inputValue(), 'HELLO');

    // Every change is in the log.
    await moe.page.getByTestId('mod-log').locator('summary').click();
    await moe.page.waitForFunction(
      () => document.querySelectorAll('[data-testid="mod-log-entry"]').length === 4,
    );
    assert.match(
      (await moe.page.getByTestId('mod-log-entry').first().textContent()) ?? '',
      /Moe set unique chat on/,
    );
    assert.deepEqual(moe.problems, []);
  });

  test('the moderation log pages back with "older"', async () => {
    const { moe } = await modAndViewer('log');
    // 12 entries: more than one page of 10.
    for (let i = 0; i < 6; i++) {
      await moe.page.getByTestId('slow-mode-10').click();
      await waitSettings(moe.page, { slowMode: 10 });
      await moe.page.getByTestId('slow-mode-0').click();
      await waitSettings(moe.page, { slowMode: 0 });
    }
    await moe.page.getByTestId('mod-log').locator('summary').click();
    const count = () => moe.page.getByTestId('mod-log-entry').count();
    await moe.page.waitForFunction(
      () => document.querySelectorAll('[data-testid="mod-log-entry"]').length === 10,
    );
    await moe.page.getByTestId('mod-log-older').click();
    await moe.page.waitForFunction(
      () => document.querySelectorAll('[data-testid="mod-log-entry"]').length === 12,
    );
    assert.equal(await count(), 12);
    assert.equal(await moe.page.getByTestId('mod-log-older').count(), 0, 'no older page left');
    const ids = await moe.page
      .getByTestId('mod-log-entry')
      .evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-id'))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');

    // The panel folds to a one-line summary, and unfolds as it was.
    await moe.page.getByTestId('moderation-fold').click();
    assert.equal(await moe.page.getByTestId('room-modes').isVisible(), false);
    assert.match(
      (await moe.page.getByTestId('room-settings-folded').textContent()) ?? '',
      /Open · no slow mode/,
    );
    await moe.page.getByTestId('moderation-fold').click();
    await moe.page.getByTestId('room-modes').waitFor();
    assert.equal(await count(), 12);
  });
});
