// @ts-check
/**
 * The tutorial's snippets (web/seed-check/src/App.tsx) against the real SDK and server:
 * build the app, serve it through PCHAT_STATIC_DIR, and check in Chromium that it connects,
 * loads history and sends a message. The app imports `@sscale/pchatsdk` exactly as the
 * tutorial does; its package.json installs this repository's SDK under that name.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { after, before, test } from 'node:test';
import { PchatServer, TIMEOUT, WEB_DIR, launchBrowser, newUser } from './helpers.mjs';

const APP_DIR = joinPath(WEB_DIR, 'seed-check');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** @type {PchatServer} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(
  () => {
    // The SDK is installed under the seed's name (package.json: "@sscale/pchatsdk": "file:…").
    const installed = ['node_modules/.bin/vite', 'node_modules/@sscale/pchatsdk/package.json'];
    if (!installed.every((path) => existsSync(joinPath(APP_DIR, path)))) {
      execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: APP_DIR, stdio: 'inherit' });
    }
    execFileSync(npm, ['run', 'build'], { cwd: APP_DIR, stdio: 'inherit' });
  },
  { timeout: 10 * 60_000 },
);

before(async () => {
  server = await new PchatServer({ staticDir: joinPath(APP_DIR, 'dist') }).start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

/**
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
function lines(page) {
  return page.$$eval('[data-testid="messages"] li', (items) => items.map((li) => li.textContent ?? ''));
}

test("the app imports the SDK with the tutorial's own lines", () => {
  const source = readFileSync(joinPath(APP_DIR, 'src/App.tsx'), 'utf8');
  const imports = source.split('\n').filter((line) => /from '[^']*pchatsdk'/.test(line));
  assert.deepEqual(imports, [
    "import { PChatSDK } from '@sscale/pchatsdk';",
    "import { Events } from '@sscale/pchatsdk';",
  ]);
});

test('the tutorial snippets connect, load history and send', { timeout: 6 * TIMEOUT }, async () => {
  const first = await newUser(browser, server.url);
  await first.page.goto(`/?text=${encodeURIComponent('first visitor says hi')}`);
  await first.page.waitForSelector('[data-testid="step"]:text-is("sent")');
  assert.equal(await first.page.getByTestId('state').textContent(), 'connected');
  assert.deepEqual(await lines(first.page), ['username: first visitor says hi']);

  // A second visitor: the history holds the first message, then its own follows.
  const second = await newUser(browser, server.url);
  await second.page.goto(`/?text=${encodeURIComponent('second visitor says hi')}`);
  await second.page.waitForSelector('[data-testid="step"]:text-is("sent")');
  assert.deepEqual(await lines(second.page), [
    'username: first visitor says hi',
    'username: second visitor says hi',
  ]);
  // The first visitor got the second message live (Events.MESSAGE).
  await first.page.waitForFunction(
    () => document.querySelectorAll('[data-testid="messages"] li').length === 2,
  );
  assert.deepEqual(await lines(first.page), await lines(second.page));

  assert.equal(await first.page.getByTestId('errors').count(), 0);
  assert.equal(await second.page.getByTestId('errors').count(), 0);
  assert.deepEqual([...first.problems, ...second.problems], []);
  await first.context.close();
  await second.context.close();
});
