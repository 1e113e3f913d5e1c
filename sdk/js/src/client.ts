/**
 * The client, {@link PChatSDK}: the vendor SDK's API over the pchat protocol.
 *
 * ```ts
 * const sdk = new PChatSDK();                       // the page's origin, or { url }
 * sdk.on(Events.MESSAGE, (message) => render(message));
 * await sdk.connect('lobby', 'Ann', token);
 * await sdk.loadHistory();
 * await sdk.sendMessage('hello');
 * ```
 *
 * The client keeps one {@link Connection} at a time and a {@link RoomState} that every frame
 * goes through. When the connection is lost with a transient close code it reconnects by
 * itself with full-jitter backoff and recovers the missed stream events; terminal close codes
 * are not retried. After a server's deliberate stop (`4000`, `1012`) it waits the close
 * reason's reconnect hint and then retries quickly for a while (see `backoff.ts`). Calls made by the application reject on failure (and do not fire
 * `ERROR`); `ERROR` reports what happens in the background: a terminal close, a failed token
 * refresh, a handler that threw, an error frame without a request id.
 * @module
 */
import { Backoff, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX } from './backoff.js';
import { CloseCode, ErrorCode, closeIsReconnectable } from './codes.js';
import { Connection, type WebSocketConstructor } from './connection.js';
import { EventEmitter } from './emitter.js';
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
import { RoomState, type Outcome } from './roomState.js';
import {
  Events,
  States,
  type ConnectEvent,
  type Message,
  type Poll,
  type User,
} from './types.js';

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

function toMs(value: Date | number): number {
  return value instanceof Date ? value.getTime() : Math.trunc(value);
}

function newCid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID().replace(/-/g, '');
  let cid = '';
  for (let i = 0; i < 32; i++) cid += Math.floor(Math.random() * 16).toString(16);
  return cid;
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
  token: string;
  role: string | undefined;
}

/** A client of one pchat room. */
export class PChatSDK extends EventEmitter {
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
  private room = new RoomState();
  private params: Params | null = null;
  private conn: Connection | null = null; // the connected connection
  private opening: Connection | null = null; // a connection awaiting its connect reply
  private failedClose: { code: number | null; reason: string } = { code: null, reason: '' };
  private needToken = false;
  /** Bumped by connect() and disconnect(): a reconnect loop of an older generation stops. */
  private generation = 0;
  private historyTail: Promise<unknown> = Promise.resolve();
  private stateWaiters: (() => void)[] = [];
  private seqWaiters: { seq: number; wake: () => void }[] = [];
  private reconnectSleep: { timer: ReturnType<typeof setTimeout>; wake: () => void } | null = null;
  private timers: ReturnType<typeof setTimeout>[] = [];

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

  // -- public state ---------------------------------------------------------------------

  /** The connection state. */
  get state(): States {
    return this._state;
  }

  /** The user, as the server confirmed it on connect; `null` before. */
  get user(): User | null {
    return this.room.user;
  }

  /** The room connected to (or last connected to). */
  get roomId(): string | null {
    return this.room.roomId;
  }

  /** The held messages, oldest to newest, each id once; deleted ones marked (a copy). */
  get messages(): Message[] {
    return [...this.room.messages];
  }

  /** The room's polls, in the order first seen (a copy). */
  get polls(): Poll[] {
    return [...this.room.polls.values()];
  }

  /** Reaction totals per type (a copy). */
  get reactionsStats(): Record<string, number> {
    return { ...this.room.stats };
  }

  /** The reactions the room accepts. */
  get reactionTypes(): string[] {
    return [...this.room.reactionTypes];
  }

  /** The room's connection count. */
  get online(): number {
    return this.room.online;
  }

  /** Whether the room has older polls than those held (page them with `getPolls({ before })`). */
  get hasMorePolls(): boolean {
    return this.room.morePolls;
  }

  /** Whether older history exists than the last page loaded. */
  get hasMoreHistory(): boolean {
    return this.room.hasMore;
  }

  /** The room stream's epoch. */
  get epoch(): string | null {
    return this.room.epoch;
  }

  /** The position of the last stream event applied. */
  get lastSeq(): number {
    return this.room.lastSeq;
  }

  // -- connect and disconnect -----------------------------------------------------------

  /**
   * Join `roomId` as `username` with `token` (the JWT from the token service). Resolves
   * with the CONNECT payload; rejects if the server refuses or cannot be reached. A first
   * connect is not retried, except once with a new token when the token has expired and
   * a `tokenRefresher` exists.
   */
  async connect(
    roomId: string,
    username: string,
    token: string,
    options: ConnectOptions = {},
  ): Promise<ConnectEvent> {
    if (this._state !== States.DISCONNECTED) {
      throw new StateError(`connect() needs state disconnected, not ${this._state}`);
    }
    const generation = ++this.generation;
    this.params = { room: roomId, username, token, role: options.role };
    this.room = new RoomState();
    this.needToken = false;
    this.backoff.reset();
    this.setState(States.CONNECTING);
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
      this.params.token = await this.callRefresher();
      if (generation !== this.generation) {
        throw new ConnectionClosedError(CloseCode.NORMAL, 'client disconnect');
      }
      return await this.open(false);
    } catch (error) {
      if (generation === this.generation) this.setState(States.DISCONNECTED);
      throw error;
    }
  }

  /** Leave the room (close `1000`); pending calls reject with ConnectionClosedError. */
  async disconnect(): Promise<void> {
    if (this._state === States.DISCONNECTED) return;
    this.generation += 1;
    this.wakeReconnectSleep();
    this.stopTimers();
    const conns = [this.conn, this.opening];
    this.conn = null;
    this.opening = null;
    this.setState(States.DISCONNECTED);
    for (const conn of conns) conn?.close(CloseCode.NORMAL, 'client disconnect');
    this.emit(Events.DISCONNECT, {
      code: CloseCode.NORMAL,
      reason: 'client disconnect',
      reconnect: false,
    });
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
    const args: Json = {
      room: params.room,
      username: params.username,
      token: params.token,
      role: params.role,
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
    this.setState(States.CONNECTED);
    const room = this.room;
    const event: ConnectEvent = {
      user: room.user as User,
      roomId: room.roomId ?? '',
      epoch: room.epoch ?? '',
      seq: room.lastSeq,
      online: room.online,
      recovered: outcome.recovered,
    };
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
      this.emit(Events.DISCONNECT, { code, reason, reconnect: true });
      void this.reconnectLoop(this.generation);
    } else {
      this.terminal(new ConnectionClosedError(code, reason), code, reason);
    }
  }

  private terminal(error: PChatError, code: number | null, reason: string): void {
    this.setState(States.DISCONNECTED);
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
      await this.loadHistory();
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
    if (outcome.gap && conn === this.conn) {
      this.lost(null, 'gap in the stream', true);
    }
  }

  private fire(outcome: Outcome): void {
    for (const { event, payload } of outcome.events) this.emitPaired(event, payload);
  }

  private wakeSeqWaiters(): void {
    const last = this.room.lastSeq;
    const due = this.seqWaiters.filter((w) => w.seq <= last);
    this.seqWaiters = this.seqWaiters.filter((w) => w.seq > last);
    for (const w of due) w.wake();
  }

  /** Wait (at most requestTimeout) until the stream has been applied up to `seq`. */
  private waitSeq(seq: number): Promise<void> {
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

  private setState(newState: States): void {
    const oldState = this._state;
    if (newState === oldState) return;
    this._state = newState;
    const waiters = this.stateWaiters;
    this.stateWaiters = [];
    for (const wake of waiters) wake();
    this.emit(Events.STATE_CHANGE, { newState, oldState });
  }

  /** Wait until no longer (re)connecting; whether the client is connected. */
  private waitConnected(timeout: number): Promise<boolean> {
    const busy = () => this._state === States.CONNECTING || this._state === States.RECONNECTING;
    if (!busy()) return Promise.resolve(this._state === States.CONNECTED);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stateWaiters = this.stateWaiters.filter((w) => w !== check);
        resolve(false);
      }, timeout);
      const check = () => {
        if (busy()) {
          this.stateWaiters.push(check);
          return;
        }
        clearTimeout(timer);
        resolve(this._state === States.CONNECTED);
      };
      this.stateWaiters.push(check);
    });
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      fn();
    }, Math.min(Math.max(ms, 0), MAX_TIMER));
    this.timers.push(timer);
  }

  private startTimers(conn: Connection): void {
    if (this.pingInterval !== null) this.schedulePing(conn, this.pingInterval);
    this.scheduleRefresh(conn);
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

  private connection(): Connection {
    if (this._state !== States.CONNECTED || this.conn === null) {
      throw new StateError(`this call needs state connected, not ${this._state}`);
    }
    return this.conn;
  }

  private request(type: string, args: Json = {}): Promise<Json> {
    return this.connection().request(type, args);
  }

  /**
   * Load the page of messages before `timestamp` (ms or Date), by default before the oldest
   * held message; fires HISTORY_LOAD and resolves with the page (oldest first).
   * Calls are queued: each runs after the previous one finished, in call order.
   */
  loadHistory(
    timestamp?: Date | number | null,
    options: { limit?: number } = {},
  ): Promise<Message[]> {
    try {
      this.connection();
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.historyTail.then(async () => {
      const args: Json = { limit: options.limit };
      if (timestamp !== undefined && timestamp !== null) args.before_ts = toMs(timestamp);
      else if (this.room.messages.length > 0) args.before_seq = this.room.messages[0]?.seq;
      const result = await this.request('history', args);
      const { page, outcome } = this.room.applyHistory(result);
      this.fire(outcome);
      return page;
    });
    this.historyTail = run.catch(() => {});
    return run;
  }

  /**
   * Send `text`; resolves with the stored message. A client id (`cid`) is generated when
   * not given: if the connection drops before the reply, the SDK waits for its reconnect
   * and sends again with the same `cid`, which the server recognises (no duplicate).
   */
  async sendMessage(text: string, options: { cid?: string } = {}): Promise<Message> {
    const conn = this.connection();
    const cid = options.cid ?? newCid();
    let result: Json;
    try {
      result = await conn.request('send', { text, cid });
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) throw error;
      if (!(await this.waitConnected(this.requestTimeout))) throw error;
      result = await this.request('send', { text, cid });
    }
    const { message, outcome } = this.room.applySent(result);
    this.fire(outcome);
    return message;
  }

  /**
   * Soft-delete a message; resolves with it as now held (`null` if not held).
   * MESSAGE_DELETE fires from the room's `message_delete` push; this call waits (up to
   * `requestTimeout`) for that push before resolving.
   */
  async deleteMessage(messageId: string): Promise<Message | null> {
    const result = await this.request('delete', { message_id: messageId });
    if (typeof result.seq === 'number') await this.waitSeq(result.seq);
    return this.room.get(messageId) ?? null;
  }

  /** Send a reaction (one of {@link reactionTypes}); REACTION fires from the push. */
  async sendReaction(reaction: string): Promise<void> {
    await this.request('react', { reaction });
  }

  /** Ask for the reaction totals; fires REACTIONS_STATS and resolves with them. */
  async getReactionsStats(): Promise<Record<string, number>> {
    const result = await this.request('reactions_stats');
    this.fire(this.room.applyStats(result.stats));
    return { ...this.room.stats };
  }

  /** Create a poll (moderators and admins), published now or at `scheduledDate` (Date or ms). */
  async createPoll(
    question: string,
    options: readonly string[],
    scheduledDate?: Date | number | null,
  ): Promise<Poll> {
    const publishAt =
      scheduledDate === undefined || scheduledDate === null ? undefined : toMs(scheduledDate);
    const result = await this.request('poll_create', {
      question,
      options: [...options],
      publish_at: publishAt,
    });
    return this.applyPoll(result.poll);
  }

  /** Vote for option `optionIndex` (from 0) of a poll; a vote cannot be changed. */
  async vote(pollId: string, optionIndex: number): Promise<Poll> {
    const result = await this.request('poll_vote', { poll_id: pollId, option: optionIndex });
    return this.applyPoll(result.poll);
  }

  /** Finish a poll (moderators and admins). */
  async finishPoll(pollId: string): Promise<Poll> {
    const result = await this.request('poll_finish', { poll_id: pollId });
    return this.applyPoll(result.poll);
  }

  /**
   * A page of the room's polls, fetched anew, oldest first: the newest `limit` (default and
   * at most 50) created before the poll `before` (default: the newest). POLL fires for each
   * that changed; `hasMorePolls` tells whether older ones exist.
   */
  async getPolls(options: { before?: string; limit?: number } = {}): Promise<Poll[]> {
    const args: Record<string, unknown> = {};
    if (options.before !== undefined) args.before = options.before;
    if (options.limit !== undefined) args.limit = options.limit;
    const result = await this.request('polls', args);
    const { polls, outcome } = this.room.applyPolls(result);
    this.fire(outcome);
    return polls;
  }

  private applyPoll(data: unknown): Poll {
    const { poll, outcome } = this.room.applyPoll(data);
    this.fire(outcome);
    return poll;
  }
}
