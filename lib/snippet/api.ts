/**
 * The snippet's page API and what it needs, as types: `window.hullBrowser` (the EventEmitter2
 * surface pages of the original connector use, plus identify/last/push), the socket and the
 * surroundings the client is built with (stand-ins in unit tests).
 */
import type { Claims } from "../types.ts";
import type { Payload, SafeStore, UpdateDetail } from "./cache.ts";
import type { AnyListener, Listener } from "./emitter.ts";
import type { IdentityWindow } from "./identity.ts";

/** The parts of a socket.io client `Socket` we use. */
export interface SocketLike {
  connected: boolean;
  active?: boolean;
  // deno-lint-ignore no-explicit-any
  on(event: string, fn: (...args: any[]) => void): unknown;
  emit(event: string, ...args: unknown[]): unknown;
  connect?(): unknown;
}

/** What the client needs from its surroundings. */
export interface ClientEnv {
  /** Where Segment / Intercom / Hull.js globals are looked up. */
  win: IdentityWindow;
  store: SafeStore;
  /** Undefined when no endpoint could be found: the API still works from the cache. */
  socket?: SocketLike;
  /** Connector id, sent as `shipId`. */
  shipId?: string;
  /** Hull.js platform id (boot through `Hull.onEmbed`), sent as `platformId`. */
  platformId?: string;
  /** The page's tag has `data-allow-script`: the connector's `script` setting may run. */
  allowScript?: boolean;
  /** Applies `data-hull-*` attributes for every update (personalize.ts). */
  personalize?: (detail: UpdateDetail) => void;
  /** Identity hash from the script tag's `data-user-hash`, sent with discovered claims. */
  userHash?: string;
  /** The page's `location.search`, to spot identities planted by `?ajs_*=` links. */
  search?: string;
  /** Extra delivery of every update, e.g. the DOM `CustomEvent`. */
  dispatch?: (detail: UpdateDetail) => void;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (id: unknown) => void;
  warn?: (message: string) => void;
}

/** `window.hullBrowser`: the EventEmitter2 surface pages of the original connector use. */
export interface HullBrowser {
  /**
   * Listens to `event` ("user.update", "room.joined", "user.delete", or a pattern: `user.*`,
   * `**`). A listener matching "user.update" also gets the last known payload right away (in a
   * microtask) with `changes === undefined`.
   */
  on(event: string, fn: Listener): void;
  /** Alias of `on`, as EventEmitter2. */
  addListener(event: string, fn: Listener): void;
  /** Like `on`, but `fn` runs for the next event only (a replay counts). */
  once(event: string, fn: Listener): void;
  /** Like `on`, for the next `times` events (a replay counts). */
  many(event: string, times: number, fn: Listener): void;
  /** Stops `fn` (or every listener of `event` when `fn` is omitted). */
  off(event: string, fn?: Listener): void;
  /** Alias of `off`, as EventEmitter2. */
  removeListener(event: string, fn?: Listener): void;
  /** Removes every listener of `event`, or every listener of every event. */
  removeAllListeners(event?: string): void;
  /** Listens to every event: `fn(eventName, detail)`. */
  onAny(fn: AnyListener): void;
  /** Stops `fn`, or every any-listener. */
  offAny(fn?: AnyListener): void;
  /** Emits on this emitter only (page-to-page messages, as with EventEmitter2). */
  emit(event: string, ...args: unknown[]): boolean;
  /** Identifies the visitor explicitly; wins over every discovered source. */
  identify(claims: Claims, hash?: string): void;
  /** A copy of the last payload (cached or pushed), if any. */
  last(): Payload | undefined;
  /** Runs queued calls `["on", "user.update", cb]`, so the stub's `push` keeps working. */
  push(...calls: unknown[]): void;
  /** The socket.io socket (undefined without endpoint). */
  socket: SocketLike | undefined;
}
