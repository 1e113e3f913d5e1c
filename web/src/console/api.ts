/**
 * The console's calls: its session (`/public-chat/admin/console`) and the server API
 * (`/public-chat/admin/v1`), both authenticated by the session cookie the server set at
 * sign-in. The page never sees the cookie (HttpOnly) nor any API secret; it holds only the
 * session's CSRF token, which every change carries in `x-csrf-token`.
 */

import type { ChatToken, Who } from './types';

const CONSOLE = '/public-chat/admin/console';
const API = '/public-chat/admin/v1';

/** A refused call: the HTTP status and the server's error name and message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The session is gone (expired, signed out elsewhere, or never was). */
  get signedOut(): boolean {
    return this.status === 401;
  }
}

interface ErrorBody {
  error?: { name?: unknown; message?: unknown };
}

interface CallOptions {
  body?: unknown;
  /** A call the page makes by itself: it does not keep the session alive. */
  background?: boolean;
}

export class ConsoleApi {
  private csrf: string | null = null;

  /** Called once a call finds the session gone, with the server's message. */
  constructor(private readonly onSignedOut: (message: string) => void) {}

  private async call<T>(method: string, url: string, options: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['x-csrf-token'] = this.csrf;
    if (options.background) headers['x-console-background'] = '1';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(`the server is unreachable (${String(error)})`, 0, 'unreachable');
    }
    let payload: unknown = null;
    try {
      payload = await response.json();
    } catch {
      // not JSON: reported by status below
    }
    if (!response.ok) {
      const error = (payload as ErrorBody | null)?.error;
      const message =
        typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`;
      const code = typeof error?.name === 'string' ? error.name : 'error';
      throw new ApiError(message, response.status, code);
    }
    return payload as T;
  }

  /** A call of the server API; a gone session signs the page out. */
  private async api<T>(method: string, path: string, options?: CallOptions): Promise<T> {
    try {
      return await this.call<T>(method, API + path, options);
    } catch (error) {
      if (error instanceof ApiError && error.signedOut) this.lost(error.message);
      throw error;
    }
  }

  private lost(message: string) {
    this.csrf = null;
    this.onSignedOut(message);
  }

  get<T>(path: string, options?: { background?: boolean }): Promise<T> {
    return this.api<T>('GET', path, options);
  }

  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.api<T>(method, path, { body });
  }

  /** Who is signed in, or null (with why, when the session ended rather than never was). */
  async who(): Promise<{ who: Who | null; ended: string | null }> {
    try {
      const who = await this.call<Who>('GET', `${CONSOLE}/session`);
      this.csrf = who.csrf_token;
      return { who, ended: null };
    } catch (error) {
      if (error instanceof ApiError && error.signedOut) {
        return { who: null, ended: error.code === 'session_expired' ? error.message : null };
      }
      throw error;
    }
  }

  async signIn(body: Record<string, string>): Promise<Who> {
    const who = await this.call<Who>('POST', `${CONSOLE}/session`, { body });
    this.csrf = who.csrf_token;
    return who;
  }

  async signOut(): Promise<void> {
    try {
      await this.call('DELETE', `${CONSOLE}/session`);
    } finally {
      this.csrf = null;
    }
  }

  /** A short-lived admin token for joining a room (`background`: the SDK's refresh). */
  async chatToken(background = false): Promise<ChatToken> {
    try {
      return await this.call<ChatToken>('POST', `${CONSOLE}/chat-token`, { background });
    } catch (error) {
      if (error instanceof ApiError && error.signedOut) this.lost(error.message);
      throw error;
    }
  }
}

/** A path segment, escaped. */
export const seg = encodeURIComponent;
