// @ts-check
/**
 * The steps the console's browser tests share: the operator's password set with `pchat
 * console password`, signing in, and server API calls made by the page's own script with
 * the session cookie (the browser adds it) and, if given, the session's CSRF token.
 */
import { execFileSync } from 'node:child_process';
import { PCHAT_BIN } from './helpers.mjs';

export const PASSWORD = 'console e2e password';

/**
 * `pchat console password` for the server's data directory, the password on stdin.
 * @param {import('./helpers.mjs').PchatServer} server
 */
export function setPassword(server, password = PASSWORD) {
  execFileSync(PCHAT_BIN, ['console', 'password', '--data-dir', server.dataDir], {
    input: `${password}\n`,
  });
}

/**
 * Open the console and sign in.
 * @param {import('playwright-core').Page} page
 */
export async function signIn(page, password = PASSWORD) {
  await page.goto('/console');
  await page.getByTestId('signin-password').fill(password);
  await page.getByTestId('signin-submit').click();
}

/** @param {import('playwright-core').Page} page */
export async function signedIn(page) {
  await signIn(page);
  await page.getByTestId('rooms-page').waitFor();
}

/**
 * The session's CSRF token, as the page's script gets it.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string>}
 */
export function csrfToken(page) {
  return page.evaluate(async () => {
    const response = await fetch('/public-chat/admin/console/session');
    return (await response.json()).csrf_token;
  });
}

/**
 * A server API call made by the page's own script: its status and JSON body.
 * @param {import('playwright-core').Page} page
 * @param {string} method
 * @param {string} path
 * @param {{ csrf?: string, body?: unknown }} [options]
 * @returns {Promise<{ status: number, body: any }>}
 */
export function apiCall(page, method, path, { csrf, body } = {}) {
  return page.evaluate(
    async ({ method, path, csrf, body }) => {
      /** @type {Record<string, string>} */
      const headers = csrf ? { 'x-csrf-token': csrf } : {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`/public-chat/admin/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json().catch(() => null) };
    },
    { method, path, csrf, body },
  );
}

/**
 * The status of a server API call made by the page's own script.
 * @param {import('playwright-core').Page} page
 * @param {string} method
 * @param {string} path
 * @param {string} [csrf]
 */
export async function apiStatus(page, method, path, csrf) {
  return (await apiCall(page, method, path, { csrf })).status;
}
