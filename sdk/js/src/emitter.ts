/**
 * A small typed event emitter with the vendor SDK's five ways of removing listeners:
 * `removeAllListeners()`, `removeAllListeners(event)`, `removeAllListeners([e1, e2])`,
 * `off(event, handler)` and `off([e1, e2], handler)`. `off(event)` without a handler removes
 * every handler of the event(s), as `removeAllListeners(event)`; `removeListener` is `off`.
 *
 * Whatever a handler throws (or the promise it returns rejects with) never reaches the code
 * that fired the event: it is reported to the `error` handlers as a {@link HandlerError}.
 * An error thrown by an `error` handler itself is only logged.
 * @module
 */
import { HandlerError } from './errors.js';
import { Events, type EventMap } from './types.js';

/** A handler of event `E`. */
export type Handler<E extends keyof EventMap> = (payload: EventMap[E]) => unknown;
/** One event or several. */
export type EventSpec<E extends keyof EventMap> = E | readonly E[];

type AnyHandler = (payload: never) => unknown;
/** A `once` wrapper remembers the handler it wraps, so that `off` can find it. */
type Wrapped = AnyHandler & { listener?: AnyHandler };

const KNOWN: ReadonlySet<string> = new Set(Object.values(Events));

function eventsOf(spec: EventSpec<keyof EventMap>): (keyof EventMap)[] {
  const list = typeof spec === 'string' ? [spec] : [...spec];
  for (const event of list) {
    if (!KNOWN.has(event)) throw new TypeError(`unknown event: ${String(event)}`);
  }
  return list;
}

/** Registers handlers per event and calls them in registration order. */
export class EventEmitter {
  private readonly handlers = new Map<keyof EventMap, AnyHandler[]>();

  /** Register `handler` for one event or for each of several events. */
  on<E extends keyof EventMap>(event: EventSpec<E>, handler: Handler<E>): this {
    for (const ev of eventsOf(event)) {
      const list = this.handlers.get(ev) ?? [];
      list.push(handler as AnyHandler);
      this.handlers.set(ev, list);
    }
    return this;
  }

  /** Register `handler` for one call of `event` only; `off(event, handler)` removes it. */
  once<E extends keyof EventMap>(event: E, handler: Handler<E>): this {
    const wrapper: Handler<E> & { listener?: AnyHandler } = (payload) => {
      this.off(event, wrapper);
      return handler(payload);
    };
    wrapper.listener = handler as AnyHandler;
    return this.on(event, wrapper);
  }

  /**
   * Remove `handler` from one event, or from each of several events; without a handler,
   * remove every handler of those events (as {@link removeAllListeners}).
   */
  off<E extends keyof EventMap>(event: EventSpec<E>, handler?: Handler<E> | null): this {
    if (handler === undefined || handler === null) return this.removeAllListeners(event);
    for (const ev of eventsOf(event)) {
      const list: Wrapped[] | undefined = this.handlers.get(ev);
      const i = list?.findIndex((h) => h === handler || h.listener === handler) ?? -1;
      if (list && i >= 0) list.splice(i, 1);
    }
    return this;
  }

  /** {@link off} by the name most emitters use. */
  removeListener<E extends keyof EventMap>(event: EventSpec<E>, handler?: Handler<E> | null): this {
    return this.off(event, handler);
  }

  /** Remove every handler, or every handler of one event or of several events. */
  removeAllListeners(event?: EventSpec<keyof EventMap>): this {
    if (event === undefined) this.handlers.clear();
    else for (const ev of eventsOf(event)) this.handlers.delete(ev);
    return this;
  }

  /** How many handlers `event` has. */
  listenerCount(event: keyof EventMap): number {
    return this.handlers.get(event)?.length ?? 0;
  }

  /** Call each handler of `event` with `payload`; never throws. */
  protected emit<E extends keyof EventMap>(event: E, payload: EventMap[E]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        const result = (handler as Handler<E>)(payload);
        if (result instanceof Promise) {
          result.catch((error: unknown) => this.reportHandlerError(event, error));
        }
      } catch (error) {
        this.reportHandlerError(event, error);
      }
    }
  }

  /** {@link emit} for an event and payload already paired elsewhere (e.g. by RoomState). */
  protected emitPaired(event: keyof EventMap, payload: unknown): void {
    this.emit(event, payload as never);
  }

  private reportHandlerError(event: keyof EventMap, error: unknown): void {
    if (event === Events.ERROR) {
      console.error(`pchatsdk: an ${event} handler threw`, error);
      return;
    }
    this.emit(Events.ERROR, new HandlerError(event, error));
  }
}
