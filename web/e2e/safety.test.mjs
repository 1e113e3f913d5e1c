// @ts-check
/**
 * Shadow bans and personal mutes in the demo (issue #11, items 2, 9 and 11), in Chromium
 * against a real server, each person in a browser context of their own: a shadow-banned
 * viewer's message is shown to its author as any other, marked for the moderator and never
 * shown to another viewer (live or in history); a viewer mutes another from a message's menu,
 * stops seeing their messages (live and after a reload: the server keeps the mute), finds
 * them in the muted list and unmutes them there.
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
  waitTexts,
} from './helpers.mjs';

const suite = browserSuite();
const user = suite.user;

/**
 * A room with a moderator (Moe) and two viewers (Val, Tia), all joined.
 * @param {string} label
 */
async function room3(label) {
  const room = roomName(label);
  const moe = await user('moe');
  const val = await user('val');
  const tia = await user('tia');
  await join(moe.page, { room, username: 'Moe', role: 'moderator' });
  await join(val.page, { room, username: 'Val' });
  await join(tia.page, { room, username: 'Tia' });
  return { room, moe, val, tia };
}

describe('shadow bans and mutes', { timeout: 10 * TIMEOUT }, () => {
  test('a shadow ban: seen by its author, marked for the moderator, by nobody else', async () => {
    const { moe, val, tia } = await room3('shadow');
    await send(val.page, 'before the ban');
    await waitTexts(tia.page, ['before the ban']);

    // The tool asks first and says what a shadow ban does.
    const first = messageWith(moe.page, 'before the ban');
    await first.waitFor();
    await first.getByTestId('message-mod-toggle').click();
    await first.getByTestId('mod-shadow').click();
    assert.match(
      (await first.getByTestId('mod-question').textContent()) ?? '',
      /Shadow-ban Val\? .*only they and the moderators/,
    );
    await first.getByTestId('mod-cancel').click();
    await first.getByTestId('message-mod-toggle').click();
    await moderate(moe.page, 'before the ban', 'shadow');

    // Val is not told: the composer stays, and the message is theirs as any other.
    await send(val.page, 'nobody hears me');
    assert.equal(await val.page.getByTestId('ban-notice').count(), 0);
    const own = messageWith(val.page, 'nobody hears me');
    assert.equal(await own.getAttribute('data-shadow'), null);
    assert.equal(await own.getByTestId('staff-marks').count(), 0);

    // The moderator sees it, marked.
    const marked = messageWith(moe.page, 'nobody hears me');
    await marked.waitFor();
    assert.equal(await marked.getAttribute('data-shadow'), 'true');
    assert.equal(await marked.getByTestId('mark-shadow').textContent(), 'shadow-banned');

    // Tia does not: the moderator's later message arrives, Val's is not before it …
    await send(moe.page, 'moe after the ban');
    await waitTexts(tia.page, ['before the ban', 'moe after the ban']);
    // … nor in history after a reload.
    await tia.page.reload();
    await waitConnected(tia.page);
    await waitTexts(tia.page, ['before the ban', 'moe after the ban']);
    // Val's own history keeps it (unmarked), the moderator's too (marked).
    await val.page.reload();
    await waitConnected(val.page);
    await waitTexts(val.page, ['before the ban', 'nobody hears me', 'moe after the ban']);
    await moe.page.reload();
    await waitConnected(moe.page);
    await waitTexts(moe.page, ['before the ban', 'nobody hears me', 'moe after the ban']);
    const after = messageWith(moe.page, 'nobody hears me');
    assert.equal(await after.getAttribute('data-shadow'), 'true');
    assert.equal(await messageWith(moe.page, 'before the ban').getAttribute('data-shadow'), null);

    // The bans list says it is a shadow ban; the log too.
    await moe.page.getByTestId('bans').locator('summary').click();
    const ban = moe.page.getByTestId('ban');
    await ban.waitFor();
    assert.equal(await ban.getAttribute('data-shadow'), 'true');
    assert.match((await ban.textContent()) ?? '', /Val.*shadow-banned until lifted/);
    await moe.page.getByTestId('mod-log').locator('summary').click();
    const entry = moe.page.locator('[data-testid="mod-log-entry"][data-action="shadow_ban"]');
    await entry.waitFor();
    assert.match((await entry.textContent()) ?? '', /Moe shadow-banned Val/);
    for (const u of [moe, val, tia]) assert.deepEqual(u.problems, [], u.label);
  });

  test('a mute from the message menu, kept across a reload, lifted in the muted list', async () => {
    const { moe, val, tia } = await room3('mute');
    await send(tia.page, 'hello from tia');
    await send(moe.page, 'hello from moe');
    await waitTexts(val.page, ['hello from tia', 'hello from moe']);

    // Nobody mutes themselves: no menu on one's own message.
    assert.equal(
      await messageWith(tia.page, 'hello from tia').getByTestId('message-menu-toggle').count(),
      0,
    );
    const message = messageWith(val.page, 'hello from tia');
    await message.getByTestId('message-menu-toggle').click();
    await message.getByTestId('message-mute').click();
    await val.page
      .getByTestId('notice-text')
      .getByText('You muted Tia: you no longer see their messages.')
      .waitFor();
    await waitTexts(val.page, ['hello from moe']);
    const muted = val.page.getByTestId('muted-user');
    await muted.waitFor();
    assert.equal((await muted.textContent())?.replace('Unmute', '').trim(), 'Tia');

    // Tia writes on: Val does not see it, live (Moe's later message comes) or after a reload.
    await send(tia.page, 'while muted');
    await send(moe.page, 'moe again');
    await waitTexts(val.page, ['hello from moe', 'moe again']);
    // Tia sees no difference; Moe sees everything.
    await waitTexts(tia.page, ['hello from tia', 'hello from moe', 'while muted', 'moe again']);
    await val.page.reload();
    await waitConnected(val.page);
    await waitTexts(val.page, ['hello from moe', 'moe again']);
    await val.page.getByTestId('muted-user').waitFor();

    // Unmuted, Tia's new messages come, and history has all of them again.
    await val.page.getByTestId('unmute').click();
    await val.page.getByTestId('muted-users').waitFor({ state: 'detached' });
    await send(tia.page, 'after unmute');
    await waitTexts(val.page, ['hello from moe', 'moe again', 'after unmute']);
    await val.page.reload();
    await waitConnected(val.page);
    await waitTexts(val.page, [
      'hello from tia',
      'hello from moe',
      'while muted',
      'moe again',
      'after unmute',
    ]);
    assert.equal(await val.page.getByTestId('muted-users').count(), 0);
    for (const u of [moe, val, tia]) assert.deepEqual(u.problems, [], u.label);
  });
});
