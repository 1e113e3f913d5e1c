// @ts-check
/**
 * Shared pieces of the browser end-to-end tests: a real pchat server as a child process
 * (temp data dir, free port, PCHAT_STATIC_DIR), Debian's Chromium through playwright-core,
 * and the steps a person takes in the demo.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join as joinPath, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST_DIR = joinPath(WEB_DIR, 'dist');
export const PCHAT_BIN = resolve(WEB_DIR, process.env.PCHAT_BIN ?? '../.venv/bin/pchat');
/** Scales every wait in the tests (slow CI: E2E_TIMEOUT_SCALE=3). */
export const SCALE = Number(process.env.E2E_TIMEOUT_SCALE ?? '1');
export const TIMEOUT = 15_000 * SCALE;

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A pchat server child process, restartable on the same port and data directory.
 */
export class PchatServer {
  /** @param {{ staticDir?: string, port?: number, dataDir?: string, env?: Record<string, string> }} [options] */
  constructor(options = {}) {
    this.staticDir = options.staticDir ?? DIST_DIR;
    this.port = options.port ?? 0;
    this.dataDir = options.dataDir ?? mkdtempSync(joinPath(tmpdir(), 'pchat-e2e-'));
    this.ownsDataDir = options.dataDir === undefined;
    this.env = options.env ?? {};
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    this.log = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const child = spawn(
      PCHAT_BIN,
      ['serve', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir],
      {
        env: {
          ...process.env,
          PCHAT_STATIC_DIR: this.staticDir,
          PCHAT_DEMO_TOKEN_ENDPOINT: 'true',
          // A stop closes every page's connection at once (no drain spread to wait out).
          PCHAT_DRAIN_READY_DELAY: '0',
          PCHAT_DRAIN_WINDOW: '0',
          ...this.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    const keep = (/** @type {Buffer} */ chunk) => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise((r) => child.once('exit', r));
    const deadline = Date.now() + TIMEOUT;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) break;
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.ok) return this;
      } catch {
        // not listening yet
      }
      await Promise.race([sleep(100), exited]);
    }
    await this.stop();
    throw new Error(`pchat server did not become healthy on ${this.url}:\n${this.log}`);
  }

  /** Stop the child: SIGTERM (a clean shutdown) or SIGKILL (a crash). */
  async stop(signal = /** @type {NodeJS.Signals} */ ('SIGTERM')) {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async dispose() {
    await this.stop();
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium (never a downloaded browser). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/**
 * A new browser context (its own localStorage, so its own user id) with one page that
 * records the page's errors and dialogs.
 * @param {import('playwright-core').Browser} browser
 * @param {string} baseURL
 */
export async function newUser(browser, baseURL) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { context, page, problems };
}

/**
 * Fill the join form and wait until connected.
 * @param {import('playwright-core').Page} page
 * @param {{ room: string, username: string, role?: 'viewer' | 'moderator' | 'admin' }} who
 */
export async function join(page, { room, username, role = 'viewer' }) {
  await page.goto('/');
  await page.getByTestId('join-room').fill(room);
  await page.getByTestId('join-username').fill(username);
  await page.getByTestId(`join-role-${role}`).check({ force: true });
  await page.getByTestId('join-submit').click();
  await waitConnected(page);
}

/** @param {import('playwright-core').Page} page */
export async function waitConnected(page) {
  await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]');
}

/**
 * Type and send a message; waits until it is shown as one's own.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export async function send(page, text) {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-send').click();
  await page.waitForFunction(
    (t) =>
      [...document.querySelectorAll('[data-testid="message"][data-mine="true"]')].some(
        (el) => el.querySelector('[data-testid="message-text"]')?.textContent === t,
      ),
    text,
  );
}

/**
 * The shown messages, oldest first.
 * @param {import('playwright-core').Page} page
 */
export function messages(page) {
  return page.$$eval('[data-testid="message"]', (items) =>
    items.map((el) => ({
      id: el.getAttribute('data-message-id') ?? '',
      mine: el.getAttribute('data-mine') === 'true',
      deleted: el.getAttribute('data-deleted') === 'true',
      text: el.querySelector('[data-testid="message-text"]')?.textContent ?? '',
    })),
  );
}

/**
 * Wait until the shown message texts (not deleted) are exactly `texts`, in order.
 * @param {import('playwright-core').Page} page
 * @param {string[]} texts
 */
export async function waitTexts(page, texts) {
  try {
    await page.waitForFunction(
      (want) => {
        const got = [...document.querySelectorAll('[data-testid="message"]')]
          .filter((el) => el.getAttribute('data-deleted') !== 'true')
          .map((el) => el.querySelector('[data-testid="message-text"]')?.textContent ?? '');
        return JSON.stringify(got) === JSON.stringify(want);
      },
      texts,
      { timeout: TIMEOUT },
    );
  } catch (error) {
    const got = (await messages(page)).map((m) => m.text);
    throw new Error(`messages are ${JSON.stringify(got)}, want ${JSON.stringify(texts)}`, {
      cause: error,
    });
  }
}

/** A room name unique to one test. @param {string} label */
export function roomName(label) {
  return `${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * The set-up most test files share: one pchat server (with `serverOptions`) and one
 * browser for the whole file, started before its tests and closed after them, and
 * `user(label)`: a new browser context (a person) on that server, closed at the end.
 * @param {ConstructorParameters<typeof PchatServer>[0]} [serverOptions]
 */
export function browserSuite(serverOptions) {
  /** @type {import('playwright-core').BrowserContext[]} */
  const contexts = [];
  const suite = {
    /** @type {PchatServer} */
    server: /** @type {any} */ (null),
    /** @type {import('playwright-core').Browser} */
    browser: /** @type {any} */ (null),
    /** @param {string} label */
    async user(label) {
      const u = await newUser(suite.browser, suite.server.url);
      contexts.push(u.context);
      return { ...u, label };
    },
  };
  before(async () => {
    if (!existsSync(joinPath(DIST_DIR, 'index.html'))) {
      throw new Error('web/dist is missing: run `npm run build`');
    }
    suite.server = await new PchatServer(serverOptions).start();
    suite.browser = await launchBrowser();
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await suite.browser?.close();
    await suite.server?.dispose();
  });
  return suite;
}

/**
 * A bare protocol session over a WebSocket opened in `page` (as a browser would), for tests
 * that set a room up behind the demo's back: `sub` gets a token with `role` from the demo
 * token endpoint and connects to `room`. `request(frame)` sends one request and resolves with
 * its `result` (an error frame rejects); `close()` closes the socket with 1000.
 * @param {import('playwright-core').Page} page
 * @param {{ room: string, sub: string, username: string, role?: string }} who
 */
export async function rawSession(page, { room, sub, username, role = 'viewer' }) {
  await page.goto('/healthz');
  await page.evaluate(async ({ room, sub, username, role }) => {
    const url = `/demo/token?sub=${encodeURIComponent(sub)}&role=${role}`;
    const token = (await (await fetch(url)).json()).token;
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
    /** @type {any} */ (window).__pchatRaw = { request, ws };
    await request({ type: 'connect', room, username, token, role });
  }, { room, sub, username, role });
  return {
    /** @param {Record<string, unknown>} frame @returns {Promise<any>} */
    request: (frame) =>
      page.evaluate((f) => /** @type {any} */ (window).__pchatRaw.request(f), frame),
    close: () => page.evaluate(() => /** @type {any} */ (window).__pchatRaw.ws.close(1000)),
  };
}

/**
 * The message list item holding `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export function messageWith(page, text) {
  return page
    .getByTestId('message')
    .filter({ has: page.getByTestId('message-text').getByText(text, { exact: true }) });
}

/**
 * Open the moderator tools on the message holding `text`, press `action` and, for an action
 * that is confirmed inline, confirm it.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 * @param {'timeout' | 'ban' | 'kick' | 'shadow' | 'purge' | 'pin'} action
 */
export async function moderate(page, text, action) {
  const message = messageWith(page, text);
  await message.getByTestId('message-mod-toggle').click();
  await message.getByTestId(`mod-${action}`).click();
  if (action !== 'pin') {
    const box = message.getByTestId('mod-confirm-box');
    await box.waitFor();
    assert.equal(await box.getAttribute('data-action'), action);
    await box.getByTestId('mod-confirm').click();
  }
  await message.getByTestId('mod-tools').waitFor({ state: 'detached' });
}

/**
 * Wait for the moderation panel to show `settings` (its data attributes).
 * @param {import('playwright-core').Page} page
 * @param {{ slowMode?: number, mode?: string, uniqueChat?: boolean, hold?: boolean,
 *   delay?: number }} settings
 */
export async function waitSettings(page, settings) {
  const parts = [];
  if (settings.slowMode !== undefined) parts.push(`[data-slow-mode="${settings.slowMode}"]`);
  if (settings.mode !== undefined) parts.push(`[data-mode="${settings.mode}"]`);
  if (settings.uniqueChat !== undefined) parts.push(`[data-unique-chat="${settings.uniqueChat}"]`);
  if (settings.hold !== undefined) parts.push(`[data-hold="${settings.hold}"]`);
  if (settings.delay !== undefined) parts.push(`[data-delay="${settings.delay}"]`);
  await page.waitForSelector(`[data-testid="room-settings"]${parts.join('')}`);
}
