/**
 * One WebSocket connection of the SDK: requests with ids, reply promises, push dispatch.
 *
 * The socket is anything shaped like the browser's `WebSocket` ({@link WebSocketLike}); its
 * constructor is injected, so the `ws` package (or a fake) works under Node. A
 * {@link Connection}
 * - resolves the promise of each request with its `reply`'s `result`, or rejects it with the
 *   matching {@link RequestError} ({@link errorFromWire}) or a {@link RequestTimeoutError};
 * - hands pushes to `onPush`, holding them back until {@link Connection.acceptPushes} (so
 *   that the connect reply is applied before the first push after it);
 * - when the socket closes, rejects every pending request with a
 *   {@link ConnectionClosedError} and calls `onClose` once (not after {@link Connection.close}).
 * @module
 */
import {
  ConnectionClosedError,
  RequestTimeoutError,
  errorFromWire,
  type WireError,
} from './errors.js';
import type { Json } from './models.js';

// A method's parameters are checked bivariantly: this lets the browser's WebSocket and the
// `ws` package's, whose handlers take richer event objects, be assigned to WebSocketLike.
type Listener<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the browser's `WebSocket` the SDK uses. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<{ code: number; reason: string }> | null;
  onerror: Listener<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `window.WebSocket`, the `ws` package's `WebSocket`, a fake. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;

interface Pending {
  resolve(result: Json): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ConnectionOptions {
  onPush(frame: Json): void;
  onClose(code: number | null, reason: string): void;
  /** How long to wait for the WebSocket to open and for each reply, in ms. */
  requestTimeout: number;
}

function decode(data: unknown): Json | null {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (data instanceof ArrayBuffer) text = new TextDecoder().decode(data);
  else if (ArrayBuffer.isView(data)) text = new TextDecoder().decode(data);
  else return null;
  try {
    const frame: unknown = JSON.parse(text);
    if (typeof frame === 'object' && frame !== null && !Array.isArray(frame)) {
      const obj = frame as Json;
      if (typeof obj.type === 'string') return obj;
    }
  } catch {
    // not JSON: ignored below
  }
  return null;
}

/** Requests and replies over one WebSocket. */
export class Connection {
  /** Resolves when the WebSocket is open; rejects if it closes first or takes too long. */
  readonly opened: Promise<void>;
  closed = false;
  closeCode: number | null = null;
  closeReason = '';

  private readonly ws: WebSocketLike;
  private readonly options: ConnectionOptions;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private held: Json[] | null = [];
  private abandoned = false;
  private closeWaiters: (() => void)[] = [];

  constructor(WebSocketCtor: WebSocketConstructor, url: string, options: ConnectionOptions) {
    this.options = options;
    this.ws = new WebSocketCtor(url);
    if ('binaryType' in this.ws) this.ws.binaryType = 'arraybuffer';
    this.opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new RequestTimeoutError('WebSocket handshake timed out'));
        this.close(1000, 'handshake timeout');
      }, options.requestTimeout);
      this.ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        reject(new ConnectionClosedError(this.closeCode, this.closeReason || 'cannot connect'));
      });
    });
    this.opened.catch(() => {}); // observed by the caller; no unhandled rejection here
    this.ws.onmessage = (event) => this.dispatch(decode(event.data));
    this.ws.onclose = (event) => this.finish(event.code, event.reason);
    this.ws.onerror = () => {}; // a close event follows and carries what we need
  }

  /** Deliver the pushes held back so far, then every push as it arrives. */
  acceptPushes(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const push of held) {
      if (this.abandoned) return;
      this.options.onPush(push);
    }
  }

  /**
   * Send a request and resolve with its reply's `result`. Rejects with the error frame's
   * {@link RequestError}, a {@link RequestTimeoutError} or a {@link ConnectionClosedError}.
   */
  request(type: string, args: Json = {}, timeout?: number): Promise<Json> {
    if (this.closed || this.ws.readyState !== OPEN) {
      return Promise.reject(
        new ConnectionClosedError(this.closeCode, this.closeReason || 'connection closed'),
      );
    }
    if ('type' in args || 'id' in args) {
      // A request's `type` and `id` are the frame's own (docs/protocol.md §2).
      return Promise.reject(new TypeError(`a ${type} request cannot carry a field type or id`));
    }
    const id = this.nextId++;
    const frame: Json = { type, id };
    for (const [k, v] of Object.entries(args)) if (v !== undefined && v !== null) frame[k] = v;
    const limit = timeout ?? this.options.requestTimeout;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(`no reply to ${type} within ${limit} ms`));
      }, limit);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify(frame));
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ConnectionClosedError(this.closeCode, String(error)));
      }
    });
  }

  private dispatch(frame: Json | null): void {
    if (frame === null || this.closed) return; // a bad server frame is ignored
    if ((frame.type === 'reply' || frame.type === 'error') && typeof frame.id === 'number') {
      const pending = this.pending.get(frame.id);
      if (pending === undefined) return; // the request timed out meanwhile
      this.pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.type === 'reply') pending.resolve((frame.result ?? {}) as Json);
      else pending.reject(errorFromWire(frame.error as WireError));
    } else if (this.held !== null) {
      this.held.push(frame);
    } else if (!this.abandoned) {
      this.options.onPush(frame);
    }
  }

  private finish(code: number | null, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    this.closeReason = reason;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(code, reason));
    }
    this.pending.clear();
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const waiter of waiters) waiter();
    if (!this.abandoned) this.options.onClose(code, reason);
  }

  /** Wait up to `timeout` ms for the connection to close; whether it did. */
  waitClosed(timeout: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Close from our side: `onClose` is not called and pending requests are rejected. */
  close(code = 1000, reason = ''): void {
    this.abandoned = true;
    this.finish(code, reason);
    try {
      this.ws.close(code, reason);
    } catch {
      // already closing, or a code the socket refuses: nothing more to do
    }
  }
}
