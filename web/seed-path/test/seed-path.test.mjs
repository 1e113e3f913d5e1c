// @ts-check
/**
 * The vendor tutorial's own path (web/seed-path/README.md): a create-react-app TypeScript
 * project (webpack 5, Babel, react-scripts' ESLint and type check) that installs the packed
 * SDK as `@sscale/pchatsdk` with `npm ci`, builds with `react-scripts build`, and chats in
 * Chromium against `pchat serve`: connect, load history, send, see the others' messages.
 *
 * Run by `make seed-path` (not by `npm run e2e`: the install takes most of a minute).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { dirname, join as joinPath, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PchatServer, TIMEOUT, WEB_DIR, launchBrowser, newUser } from '../../e2e/helpers.mjs';

const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_DIR = joinPath(APP_DIR, 'build');
const INSTALLED_SDK = joinPath(APP_DIR, 'node_modules/@sscale/pchatsdk');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Runs a command in the app's directory and says how long it took.
 * @param {string} label
 * @param {string} command
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 */
function timed(label, command, args, env = {}) {
  const started = Date.now();
  execFileSync(command, args, { cwd: APP_DIR, stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(`seed-path: ${label} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** @type {PchatServer} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(
  () => {
    // npm packs ../../sdk/js at install time (install-links) without building it: build first.
    execFileSync(process.execPath, [joinPath(WEB_DIR, 'scripts/build-sdk.mjs')], { stdio: 'inherit' });
    // Always a clean install from package-lock.json, as a new user (and CI) gets it.
    timed('npm ci', npm, ['ci', '--no-audit', '--no-fund']);
    // CI=true: react-scripts fails the build on any ESLint or TypeScript warning.
    timed('react-scripts build', npm, ['run', 'build'], { CI: 'true' });
  },
  { timeout: 15 * 60_000 },
);

before(async () => {
  server = await new PchatServer({ staticDir: BUILD_DIR }).start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test('the SDK is installed as npm packs it, under the seed\'s name', () => {
  assert.ok(!lstatSync(INSTALLED_SDK).isSymbolicLink(), 'a copy, not a link to sdk/js');
  const manifest = JSON.parse(readFileSync(joinPath(INSTALLED_SDK, 'package.json'), 'utf8'));
  const source = JSON.parse(readFileSync(joinPath(WEB_DIR, '../sdk/js/package.json'), 'utf8'));
  assert.equal(manifest.version, source.version);
  assert.ok(existsSync(joinPath(INSTALLED_SDK, 'dist/index.js')));
  assert.ok(!existsSync(joinPath(INSTALLED_SDK, 'test')), 'only the package\'s "files"');
  assert.ok(!existsSync(joinPath(INSTALLED_SDK, 'node_modules')));
  // What webpack made (create-react-app's layout), not another bundler's.
  const assets = JSON.parse(readFileSync(joinPath(BUILD_DIR, 'asset-manifest.json'), 'utf8'));
  assert.match(assets.files['main.js'], /^\/static\/js\/main\.[0-9a-f]+\.js$/);
});

/**
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
function lines(page) {
  return page.$$eval('[data-testid="messages"] li', (items) => items.map((li) => li.textContent ?? ''));
}

/**
 * Opens the built app as a new visitor and waits until the tutorial's steps are done.
 * @param {string} text the message this visitor sends
 */
async function visit(text) {
  const visitor = await newUser(browser, server.url);
  await visitor.page.goto(`/?text=${encodeURIComponent(text)}`);
  try {
    await visitor.page.waitForSelector('[data-testid="step"]:text-is("sent")');
  } catch (error) {
    const shown = await visitor.page.locator('main').textContent();
    throw new Error(`the tutorial did not finish; the page shows: ${shown}`, { cause: error });
  }
  assert.equal(await visitor.page.getByTestId('state').textContent(), 'connected');
  return visitor;
}

test('the tutorial connects, loads history, sends and receives', { timeout: 8 * TIMEOUT }, async () => {
  const first = await visit('first visitor says hi');
  assert.deepEqual(await lines(first.page), ['username: first visitor says hi']);

  // The second visitor's history holds the first message; its own follows.
  const second = await visit('second visitor says hi');
  const both = ['username: first visitor says hi', 'username: second visitor says hi'];
  assert.deepEqual(await lines(second.page), both);
  // The first visitor got the second message live (Events.MESSAGE).
  await first.page.waitForFunction(
    () => document.querySelectorAll('[data-testid="messages"] li').length === 2,
  );
  assert.deepEqual(await lines(first.page), both);

  // A reload starts the tutorial again: history brings back both, then the new message.
  await first.page.goto(`/?text=${encodeURIComponent('first visitor is back')}`);
  await first.page.waitForSelector('[data-testid="step"]:text-is("sent")');
  const all = [...both, 'username: first visitor is back'];
  assert.deepEqual(await lines(first.page), all);
  await second.page.waitForFunction(
    () => document.querySelectorAll('[data-testid="messages"] li').length === 3,
  );
  assert.deepEqual(await lines(second.page), all);

  for (const visitor of [first, second]) {
    assert.equal(await visitor.page.getByTestId('errors').count(), 0);
    assert.deepEqual(visitor.problems, []);
    await visitor.context.close();
  }
});
