/**
 * The connection lifecycle of {@link PChatSDK}: connect and disconnect, the states and the
 * one state setter, losing a connection and reconnecting with recovery, the timers (ping,
 * token refresh, the end of a timeout) and the requests that wait for a connection.
 *
 * The client keeps one {@link Connection} at a time and a {@link RoomState} that every frame
 * goes through. When the connection is lost with a transient close code it reconnects by
 * itself with full-jitter backoff and recovers the missed stream events; terminal close codes
 * are not retried. After a server's deliberate stop (`4000`, `1012`) it waits the close
 * reason's reconnect hint and then retries quickly for a while (see `backoff.ts`).
 *
 * Calls made while the client connects or reconnects wait for the connection (at most
 * `requestTimeout`); `connect()` with the arguments of the connect under way joins it (see
 * {@link ConnectionLifecycle.connect} and the lifecycle in the README). `ERROR` reports what
 * happens in the background: a terminal close, a failed token refresh, a handler that threw,
 * an error frame without a request id.
 * @module
 */
import { Backoff, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX } from './backoff.js';
import { CloseCode, ErrorCode, closeIsReconnectable } from './codes.js';
import { Connection, type WebSocketConstructor } from './connection.js';
import {
  ConnectionClosedError,
  PChatError,
  RequestError,
  RequestTimeoutError,
  StateError,
  TokenError,
  TokenRefreshError,
  errorFromWire,
  type WireError,
} from './errors.js';
import type { Json } from './models.js';
import { PollCalls } from './polls.js';
import { RoomState, type Outcome } from './roomState.js';
import { Events, States, type ConnectEvent, type Message, type User } from './types.js';

/** Returns a fresh token for the same user, directly or as a promise. */
export type TokenRefresher = () => string | Promise<string>;

/** Options of {@link PChatSDK}; every time is in milliseconds. */
export interface PChatSDKOptions {
  /** The service's base URL; default: the page's origin (`location.origin`). */
  url?: string;
  /** The WebSocket constructor; default: the global `WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Called for a new token before the current one expires and after a `token_expired`. */
  tokenRefresher?: TokenRefresher;
  /** How long to wait for the socket to open and for each reply. Default 10 000. */
  requestTimeout?: number;
  /** Interval of the app-level `ping`; `null` disables it. Default 25 000. */
  pingInterval?: number | null;
  /** How long before the token's expiry to refresh it. Default 60 000. */
  refreshMargin?: number;
  /** Upper bound of the first reconnect delay. Default 500. */
  backoffBase?: number;
  /** Upper bound of any reconnect delay. Default 5 000. */
  backoffMax?: number;
  /** The random source of the backoff jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Options of {@link PChatSDK.connect}. */
export interface ConnectOptions {
  /** The role to claim (`viewer`, `moderator`, `admin`), up to the one the token grants. */
  role?: string;
}

const WS_PATH = '/public-chat/ws';
// How long to wait for the server's close after a refused connect, to report its code.
const CLOSE_GRACE = 1_000;
// setTimeout's longest delay (about 24.8 days).
const MAX_TIMER = 2 ** 31 - 1;

/** The chat WebSocket URL of a service: `http` becomes `ws`, `https` `wss`. */
export function wsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  let path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith(WS_PATH)) path += WS_PATH;
  url.pathname = path;
  url.hash = '';
  return url.toString();
}

function defaultUrl(): string {
  const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (!origin || origin === 'null') {
    throw new TypeError('PChatSDK: no page origin to default to; pass { url }');
  }
  return origin;
}

interface Params {
  room: string;
  username: string;
  /** The token in use: the one given, or the refresher's latest. */
  token: string;
  role: string | undefined;
  /** The token given to connect(). */
  given: string;
}

/** The connect or reconnection under way: connect() joins it, calls wait for it. */
interface Attempt {
  promise: Promise<ConnectEvent>;
  resolve: (event: ConnectEvent) => void;
  reject: (error: Error) => void;
}

function newAttempt(): Attempt {
  let resolve!: (event: ConnectEvent) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<ConnectEvent>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  promise.catch(() => {}); // nobody may have joined it
  return { promise, resolve, reject };
}

/** Resolves when `promise` settles, either way, or after `ms`. */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new PChatError(String(error), { cause: error });
}

/**
 * A client's connection lifecycle, under the calls {@link PChatSDK} adds; it provides the
 * calls' `request`, room state, events and `waitSeq`.
 */
export abstract class ConnectionLifecycle extends PollCalls {
  /** The service's base URL. */
  readonly url: string;
  /** The chat WebSocket's URL. */
  readonly wsUrl: string;
  readonly requestTimeout: number;
  readonly pingInterval: number | null;
  readonly refreshMargin: number;

  private readonly WebSocketCtor: WebSocketConstructor | undefined;
  private readonly refresher: TokenRefresher | undefined;
  private readonly backoff: Backoff;
  private _state: States = States.DISCONNECTED;
  protected room = new RoomState();
  private params: Params | null = null;
  private conn: Connection | null = null; // the connected connection
  private opening: Connection | null = null; // a connection awaiting its connect reply
  private failedClose: { code: number | null; reason: string } = { code: null, reason: '' };
  private needToken = false;
  /**
   * Bumped by connect() and disconnect(): a reconnect loop of an older generation stops, and
   * a call made before fails instead of being sent on a connection of another session.
   */
  private generation = 0;
  private attempt: Attempt | null = null;
  private lastClose: { code: number | null; reason: string } = { code: null, reason: '' };
  private historyTail: Promise<unknown> = Promise.resolve();
  private seqWaiters: { seq: number; wake: () => void }[] = [];
  private reconnectSleep: { timer: ReturnType<typeof setTimeout>; wake: () => void } | null = null;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private banTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: PChatSDKOptions = {}) {
    super();
    this.url = options.url ?? defaultUrl();
    this.wsUrl = wsUrl(this.url);
    this.WebSocketCtor =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.refresher = options.tokenRefresher;
    this.requestTimeout = options.requestTimeout ?? 10_000;
    this.pingInterval = options.pingInterval === undefined ? 25_000 : options.pingInterval;
    this.refreshMargin = options.refreshMargin ?? 60_000;
    this.backoff = new Backoff(
      options.backoffBase ?? DEFAULT_BACKOFF_BASE,
      options.backoffMax ?? DEFAULT_BACKOFF_MAX,
      options.random ?? Math.random,
    );
  }

  /** The connection state. */
  get state(): States {
    return this._state;
  }

  protected override get roomState(): RoomState {
    return this.room;
  }

  // -- connect and disconnect -----------------------------------------------------------

  /**
   * Join `roomId` as `username` with `token` (the JWT from the token service). Resolves
   * with the CONNECT payload; rejects if the server refuses or cannot be reached. A first
   * connect is not retried, except once with a new token when the token has expired and
   * a `tokenRefresher` exists. By state:
   *
   * - disconnected: connect;
   * - connecting or reconnecting, with the room, username, token and role of the connect
   *   under way: join it, and resolve (or reject) as it ends. Code written for an SDK that
   *   does not reconnect by itself calls `connect()` from its DISCONNECT handler; that joins
   *   the reconnection, which keeps its backoff;
   * - reconnecting, with other arguments: stop the reconnection (calls waiting for it reject
   *   with ConnectionClosedError) and connect anew;
   * - connecting with other arguments, or connected: reject with StateError.
   */
  async connect(
    roomId: string,
    username: string,
    token: string,
    options: ConnectOptions = {},
  ): Promise<ConnectEvent> {
    const role = options.role;
    const params = this.params;
    const busy = this._state === States.CONNECTING || this._state === States.RECONNECTING;
    const same =
      params !== null &&
      params.room === roomId &&
      params.username === username &&
      params.given === token &&
      params.role === role;
    if (busy && same && this.attempt !== null) return this.attempt.promise;
    if (this._state !== States.DISCONNECTED && this._state !== States.RECONNECTING) {
      throw new StateError(`connect() needs state disconnected, not ${this._state}`);
    }
    this.lastClose = { code: null, reason: 'connect() was called with other arguments' };
    const generation = this.stop();
    this.params = { room: roomId, username, token, role, given: token };
    this.room = new RoomState();
    this.needToken = false;
    this.backoff.reset();
    this.setState(States.CONNECTING, new ConnectionClosedError(null, this.lastClose.reason));
    try {
      try {
        return await this.open(false);
      } catch (error) {
        if (
          !(error instanceof TokenError) ||
          error.code !== ErrorCode.TOKEN_EXPIRED ||
          this.refresher === undefined ||
          generation !== this.generation
        ) {
          throw error;
        }
      }
      const fresh = await this.callRefresher();
      if (generation !== this.generation) {
        throw new ConnectionClosedError(this.lastClose.code, this.lastClose.reason);
      }
      this.params.token = fresh;
      return await this.open(false);
    } catch (error) {
      if (generation === this.generation) {
        const { code, reason } = this.failedClose;
        this.lastClose = { code, reason: reason || String(error) };
        this.setState(States.DISCONNECTED, asError(error));
      }
      throw error;
    }
  }

  /** Leave the room (close `1000`); pending calls reject with ConnectionClosedError. */
  async disconnect(): Promise<void> {
    if (this._state === States.DISCONNECTED) return;
    this.lastClose = { code: CloseCode.NORMAL, reason: 'client disconnect' };
    this.stop();
    this.setState(States.DISCONNECTED, new ConnectionClosedError(CloseCode.NORMAL, 'client disconnect'));
    this.emit(Events.DISCONNECT, {
      code: CloseCode.NORMAL,
      reason: 'client disconnect',
      reconnect: false,
    });
  }

  /**
   * End the current session at once: a new generation (the reconnect loop stops), no
   * connection, no timers. Returns the new generation.
   */
  private stop(): number {
    this.generation += 1;
    this.wakeReconnectSleep();
    this.stopTimers();
    const conns = [this.conn, this.opening];
    this.conn = null;
    this.opening = null;
    for (const conn of conns) conn?.close(CloseCode.NORMAL, 'client disconnect');
    return this.generation;
  }

  /** Open a connection, send `connect` and apply the reply; become CONNECTED. */
  private async open(recover: boolean): Promise<ConnectEvent> {
    const params = this.params;
    if (params === null) throw new StateError('no room to connect to');
    if (this.WebSocketCtor === undefined) {
      throw new StateError('no WebSocket: pass { WebSocket } to new PChatSDK()');
    }
    const conn: Connection = new Connection(this.WebSocketCtor, this.wsUrl, {
      onPush: (frame) => this.onPush(conn, frame),
      onClose: (code, reason) => this.onClose(conn, code, reason),
      requestTimeout: this.requestTimeout,
    });
    this.opening = conn;
    this.failedClose = { code: null, reason: '' };
    const args: Json = {
      room: params.room,
      username: params.username,
      token: params.token,
      role: params.role,
      // The SDK takes a sampled stream: it knows the `sampled` push and the jumps in `seq`.
      sampling: true,
    };
    if (recover && this.room.epoch !== null) {
      args.recover = { epoch: this.room.epoch, seq: this.room.lastSeq };
    }
    let result: Json;
    try {
      await conn.opened;
      result = await conn.request('connect', args);
      if (this.opening !== conn) {
        throw new ConnectionClosedError(CloseCode.NORMAL, 'client disconnect');
      }
    } catch (error) {
      if (error instanceof RequestError && !error.temporary) {
        // The server closes after a refused connect; wait a little to report its code.
        await conn.waitClosed(Math.min(CLOSE_GRACE, this.requestTimeout));
      }
      this.failedClose = { code: conn.closeCode, reason: conn.closeReason };
      conn.close();
      throw error;
    } finally {
      if (this.opening === conn) this.opening = null;
    }
    return this.connected(conn, result);
  }

  private connected(conn: Connection, result: Json): ConnectEvent {
    const outcome = this.room.applyConnect(result);
    this.conn = conn;
    this.backoff.reset();
    const room = this.room;
    const event: ConnectEvent = {
      user: room.user as User,
      roomId: room.roomId ?? '',
      epoch: room.epoch ?? '',
      seq: room.lastSeq,
      online: room.online,
      recovered: outcome.recovered,
    };
    this.setState(States.CONNECTED, event);
    this.emit(Events.CONNECT, event);
    this.fire(outcome);
    this.wakeSeqWaiters();
    if (outcome.reset) void this.reloadHistory();
    this.startTimers(conn);
    conn.acceptPushes();
    if (conn.closed && conn === this.conn) this.onClose(conn, conn.closeCode, conn.closeReason);
    return event;
  }

  // -- connection loss and reconnect ----------------------------------------------------

  private onClose(conn: Connection, code: number | null, reason: string): void {
    if (conn === this.conn) this.lost(code, reason, false);
  }

  /** The current connection is gone: reconnect, or stop for good. */
  private lost(code: number | null, reason: string, forceReconnect: boolean): void {
    const conn = this.conn;
    this.conn = null;
    this.stopTimers();
    if (conn !== null && !conn.closed) conn.close(CloseCode.NORMAL, reason);
    if (code === CloseCode.TOKEN_EXPIRED) this.needToken = true;
    const reconnect =
      forceReconnect ||
      (closeIsReconnectable(code) &&
        (code !== CloseCode.TOKEN_EXPIRED || this.refresher !== undefined));
    if (reconnect) {
      this.backoff.closed(code, reason); // a restart close: the hint, then short delays
      this.setState(States.RECONNECTING);
      // Started before DISCONNECT fires: a handler's connect() joins this loop (or, with
      // other arguments, stops it).
      void this.reconnectLoop(this.generation);
      this.emit(Events.DISCONNECT, { code, reason, reconnect: true });
    } else {
      this.terminal(new ConnectionClosedError(code, reason), code, reason);
    }
  }

  private terminal(error: PChatError, code: number | null, reason: string): void {
    this.lastClose = { code, reason };
    this.setState(States.DISCONNECTED, error);
    this.emit(Events.DISCONNECT, { code, reason, reconnect: false });
    this.emit(Events.ERROR, error);
  }

  private async reconnectLoop(generation: number): Promise<void> {
    const current = () => generation === this.generation && this._state === States.RECONNECTING;
    while (current()) {
      await this.sleep(this.backoff.next());
      if (!current()) return;
      try {
        if (this.needToken && this.refresher !== undefined && this.params !== null) {
          this.params.token = await this.callRefresher();
          this.needToken = false;
          if (!current()) return;
        }
        await this.open(true);
        return;
      } catch (error) {
        if (!current()) return;
        if (error instanceof TokenRefreshError) {
          this.emit(Events.ERROR, error);
        } else if (error instanceof RequestError || error instanceof ConnectionClosedError) {
          if (!this.retryAfter(error)) {
            const { code, reason } = this.failedClose;
            this.terminal(error, code, reason || error.message);
            return;
          }
        } else if (!(error instanceof RequestTimeoutError)) {
          this.terminal(
            error instanceof PChatError ? error : new PChatError(String(error), { cause: error }),
            null,
            String(error),
          );
          return;
        }
      }
    }
  }

  /** Whether a failed reconnect attempt should be retried. */
  private retryAfter(error: RequestError | ConnectionClosedError): boolean {
    const expired =
      error instanceof RequestError
        ? error.code === ErrorCode.TOKEN_EXPIRED
        : error.code === CloseCode.TOKEN_EXPIRED;
    if (expired) {
      this.needToken = true;
      return this.refresher !== undefined;
    }
    if (error instanceof RequestError) return error.temporary;
    return closeIsReconnectable(error.code);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        if (this.reconnectSleep?.wake === wake) this.reconnectSleep = null;
        resolve();
      };
      this.reconnectSleep = { timer: setTimeout(wake, ms), wake };
    });
  }

  private wakeReconnectSleep(): void {
    const sleep = this.reconnectSleep;
    if (sleep !== null) {
      clearTimeout(sleep.timer);
      sleep.wake();
    }
  }

  /** After a reconnect that could not recover: load the latest page. */
  private async reloadHistory(): Promise<void> {
    try {
      await this.history(undefined, undefined, this.generation, false);
    } catch (error) {
      if (error instanceof StateError || error instanceof ConnectionClosedError) return;
      if (this._state === States.CONNECTED) {
        this.emit(
          Events.ERROR,
          error instanceof PChatError ? error : new PChatError(String(error), { cause: error }),
        );
      }
    }
  }

  // -- pushes ---------------------------------------------------------------------------

  private onPush(conn: Connection, frame: Json): void {
    if (conn !== this.conn) return;
    if (frame.type === 'error') {
      this.emit(Events.ERROR, errorFromWire(frame.error as WireError));
      return;
    }
    const outcome = this.room.applyPush(frame);
    this.fire(outcome);
    this.wakeSeqWaiters();
    if (outcome.events.some((e) => e.event === Events.BANNED)) this.watchBan(conn);
    if (outcome.gap && conn === this.conn) {
      this.lost(null, 'gap in the stream', true);
    }
  }

  protected override fire(outcome: Outcome): void {
    for (const { event, payload } of outcome.events) this.emitPaired(event, payload);
  }

  private wakeSeqWaiters(): void {
    const last = this.room.lastSeq;
    const due = this.seqWaiters.filter((w) => w.seq <= last);
    this.seqWaiters = this.seqWaiters.filter((w) => w.seq > last);
    for (const w of due) w.wake();
  }

  /** Wait (at most requestTimeout) until the stream has been applied up to `seq`. */
  protected override waitSeq(seq: number): Promise<void> {
    if (this.room.lastSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        seq,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.seqWaiters = this.seqWaiters.filter((w) => w !== waiter);
        resolve();
      }, this.requestTimeout);
      this.seqWaiters.push(waiter);
    });
  }

  // -- state and timers -----------------------------------------------------------------

  /**
   * The one state setter: settles the attempt under way and fires STATE_CHANGE. Entering
   * CONNECTING or RECONNECTING starts an attempt (connect() joins it, calls wait for it);
   * CONNECTED resolves it with the ConnectEvent `outcome`; DISCONNECTED, or a new attempt
   * replacing it, rejects it with the error `outcome`.
   */
  private setState(newState: States, outcome?: ConnectEvent | Error): void {
    const oldState = this._state;
    if (newState === oldState) return;
    this._state = newState;
    const attempt = this.attempt;
    this.attempt = null;
    if (attempt !== null) {
      if (outcome === undefined || outcome instanceof Error) {
        attempt.reject(outcome ?? new ConnectionClosedError(null, newState));
      } else {
        attempt.resolve(outcome);
      }
    }
    if (newState === States.CONNECTING || newState === States.RECONNECTING) {
      this.attempt = newAttempt();
    }
    this.emit(Events.STATE_CHANGE, { newState, oldState });
  }

  /** The session a call is made in; StateError when there is none to wait for. */
  protected session(): number {
    if (this._state === States.DISCONNECTED) {
      throw new StateError(`this call needs a connection, and the state is ${this._state}`);
    }
    return this.generation;
  }

  /**
   * The connection for a call made in `session`; while connecting or reconnecting, wait for
   * it until `deadline` (`Date.now()` time; `null`: do not wait, throw StateError).
   * `notOn`: a connection a request just failed on; the state can still say connected until
   * its close is noticed, and sending again on it would fail again.
   */
  protected async ready(
    session: number,
    deadline: number | null,
    notOn: Connection | null = null,
  ): Promise<Connection> {
    for (;;) {
      if (session !== this.generation) {
        // disconnect(), or connect() with other arguments
        throw new ConnectionClosedError(this.lastClose.code, this.lastClose.reason);
      }
      const conn = this.conn;
      if (this._state === States.CONNECTED && conn !== null && conn !== notOn) return conn;
      if (deadline === null) {
        throw new StateError(`this call needs state connected, not ${this._state}`);
      }
      if (this._state === States.DISCONNECTED) {
        throw new ConnectionClosedError(this.lastClose.code, this.lastClose.reason);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new RequestTimeoutError(`not connected within ${this.requestTimeout} ms`);
      }
      const attempt = this.attempt;
      if (attempt === null) {
        // Connected on `notOn`, its close not noticed yet: look again shortly.
        await new Promise((resolve) => setTimeout(resolve, Math.min(10, remaining)));
      } else {
        await settledWithin(attempt.promise, remaining);
      }
    }
  }

  private after(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      fn();
    }, Math.min(Math.max(ms, 0), MAX_TIMER));
    this.timers.push(timer);
    return timer;
  }

  private startTimers(conn: Connection): void {
    if (this.pingInterval !== null) this.schedulePing(conn, this.pingInterval);
    this.scheduleRefresh(conn);
    this.watchBan(conn);
  }

  /** Fire UNBANNED when the held timeout ends: the server pushes nothing then. */
  private watchBan(conn: Connection): void {
    const old = this.banTimer;
    if (old !== null) {
      clearTimeout(old);
      this.timers = this.timers.filter((t) => t !== old);
      this.banTimer = null;
    }
    const until = this.room.myBan?.until;
    if (typeof until !== 'number') return;
    this.banTimer = this.after(until - Date.now(), () => {
      this.banTimer = null;
      if (conn !== this.conn) return;
      this.fire(this.room.expireBan(Date.now()));
      // Woke early (a timer may, and the longest lasts about 24.8 days): wait again.
      if (this.room.myBan !== null) this.watchBan(conn);
    });
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }

  private schedulePing(conn: Connection, interval: number): void {
    this.after(interval, () => {
      if (conn !== this.conn) return;
      conn.request('ping').then(
        () => {
          if (conn === this.conn) this.schedulePing(conn, interval);
        },
        (error: unknown) => {
          if (error instanceof RequestTimeoutError && conn === this.conn) {
            this.lost(CloseCode.PING_TIMEOUT, 'no reply to ping', true);
          }
        },
      );
    });
  }

  private scheduleRefresh(conn: Connection): void {
    const exp = this.room.tokenExp;
    if (exp === null || this.refresher === undefined) return;
    const lifetime = exp * 1000 - Date.now();
    const delay = Math.max(lifetime - this.refreshMargin, 0.8 * lifetime, 0);
    this.after(delay, () => void this.refreshToken(conn));
  }

  private async refreshToken(conn: Connection): Promise<void> {
    if (conn !== this.conn || this.params === null) return;
    let token: string;
    let result: Json;
    try {
      token = await this.callRefresher();
      result = await conn.request('refresh', { token });
    } catch (error) {
      if (error instanceof ConnectionClosedError) return; // the reconnect gets a new token
      if (conn === this.conn) {
        this.emit(
          Events.ERROR,
          error instanceof PChatError ? error : new PChatError(String(error), { cause: error }),
        );
      }
      return;
    }
    this.params.token = token;
    this.room.tokenExp = typeof result.exp === 'number' ? result.exp : null;
    if (conn === this.conn) this.scheduleRefresh(conn);
  }

  private async callRefresher(): Promise<string> {
    const refresher = this.refresher;
    if (refresher === undefined) throw new TokenRefreshError('no token refresher');
    let token: unknown;
    try {
      token = await refresher();
    } catch (error) {
      throw new TokenRefreshError(
        `token refresher threw: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (typeof token !== 'string' || token === '') {
      throw new TokenRefreshError('token refresher returned no token');
    }
    return token;
  }

  // -- requests -------------------------------------------------------------------------

  protected override async request(type: string, args: Json = {}): Promise<Json> {
    const conn = await this.ready(this.session(), Date.now() + this.requestTimeout);
    return conn.request(type, args);
  }

  protected history(
    beforeTs: number | undefined,
    limit: number | undefined,
    session: number,
    wait: boolean,
  ): Promise<Message[]> {
    const run = this.historyTail.then(async () => {
      const conn = await this.ready(session, wait ? Date.now() + this.requestTimeout : null);
      const args: Json = { limit };
      if (beforeTs !== undefined) args.before_ts = beforeTs;
      else if (this.room.messages.length > 0) args.before_seq = this.room.messages[0]?.seq;
      const result = await conn.request('history', args);
      const { page, outcome } = this.room.applyHistory(result);
      this.fire(outcome);
      return page;
    });
    this.historyTail = run.catch(() => {});
    return run;
  }
}
