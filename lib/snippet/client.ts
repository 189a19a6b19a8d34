/**
 * The snippet's behaviour, written against injected stand-ins (window, storage, socket, timers)
 * so it runs unchanged in unit tests: the page API, the queue of calls made before the snippet
 * loaded, identity discovery with retry, `user.fetch` on every (re)connect, and turning pushed
 * payloads into `user.update` events.
 */
import type { Claims } from "../types.ts";
import {
  CLAIMS_KEY,
  createPayloadState,
  type Payload,
  type SafeStore,
  type UpdateDetail,
} from "./cache.ts";
import { createEmitter, type Listener, rethrow } from "./emitter.ts";
import {
  cachedIdentity,
  cleanClaims,
  discoverIdentity,
  type Identity,
  type IdentityWindow,
  sameClaims,
  untrustedFromUrl,
  withoutUntrusted,
} from "./identity.ts";

/** localStorage key of identifiers planted by URL parameters. */
export const UNTRUSTED_KEY = "hull-browser:untrusted";

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** The page event carrying profiles. */
export const USER_UPDATE = "user.update";
/** First identity retry delay; doubles up to {@link RETRY_MAX_MS}. */
export const RETRY_FIRST_MS = 250;
/** Longest identity retry delay; retries go on at this pace until an identity is found. */
export const RETRY_MAX_MS = 2000;

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

/** `window.hullBrowser`. */
export interface HullBrowser {
  /**
   * Listens to `event` ("user.update", "room.joined"). A `user.update` listener also gets the
   * last known payload right away (in a microtask) with `changes === undefined`.
   */
  on(event: string, fn: Listener): void;
  /** Like `on`, but `fn` runs for the next event only (a replay counts). */
  once(event: string, fn: Listener): void;
  /** Stops `fn` (or every listener of `event` when `fn` is omitted). */
  off(event: string, fn?: Listener): void;
  /** Identifies the visitor explicitly; wins over every discovered source. */
  identify(claims: Claims, hash?: string): void;
  /** A copy of the last payload (cached or pushed), if any. */
  last(): Payload | undefined;
  /** Runs queued calls `["on", "user.update", cb]`, so the stub's `push` keeps working. */
  push(...calls: unknown[]): void;
  /** The socket.io socket (undefined without endpoint). */
  socket: SocketLike | undefined;
}

/**
 * Builds the API. `start(queued)` wires the socket, replays calls queued in a pre-existing
 * `window.hullBrowser` array, replays the cached payload and starts identity discovery; it is
 * separate so the caller can publish the API on `window` before any page code runs.
 */
export function createHullBrowser(env: ClientEnv): {
  api: HullBrowser;
  start(queued?: unknown): void;
} {
  const { win, store, socket, shipId } = env;
  const setTimer = env.setTimer || ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = env.clearTimer || ((id) => clearTimeout(id as number));
  const print = env.warn || ((m) => console.warn(m));
  // Each message once per page: a reconnect loop must not flood the console.
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (warned.has(message)) return;
    warned.add(message);
    print(message);
  };
  const state = createPayloadState(store);
  // Identifiers planted by `?ajs_uid=` / `?ajs_email=` links without `ajs_hash` are remembered,
  // since analytics.js keeps them in its own storage on later pages too.
  const fromUrl = untrustedFromUrl(env.search ?? "");
  const untrusted = [
    ...new Set([...(asStrings(store.read(UNTRUSTED_KEY))), ...fromUrl.untrusted]),
  ].slice(-20);
  if (fromUrl.untrusted.length) store.write(UNTRUSTED_KEY, untrusted);
  const emitter = createEmitter();
  let current: Identity | undefined;
  let timer: unknown;
  let delay = RETRY_FIRST_MS;
  /** Count of live updates delivered, to tell whether a pending replay went stale. */
  let updates = 0;

  function deliver(detail: UpdateDetail) {
    updates++;
    emitter.emit(USER_UPDATE, detail);
    env.dispatch?.(detail);
  }

  function send() {
    // Only while connected: socket.io buffers emits made offline and we send on `connect`
    // anyway, so buffering would send the same fetch twice.
    if (!current || !socket?.connected) return;
    const message: Record<string, unknown> = { claims: current.claims };
    if (current.hash) message.hash = current.hash;
    if (shipId) message.shipId = shipId;
    socket.emit("user.fetch", message);
  }

  function adopt(identity: Identity) {
    const changed = !current || !sameClaims(current.claims, identity.claims) ||
      current.hash !== identity.hash;
    current = identity;
    if (!changed) return;
    const { claims, hash } = identity;
    if (identity.source !== "cache") store.write(CLAIMS_KEY, hash ? { claims, hash } : { claims });
    // The server disconnects a socket whose claims it refused, and socket.io does not retry
    // that: new claims deserve a new connection (`connect` then sends them).
    if (socket && !socket.connected && socket.active === false) socket.connect?.();
    send();
  }

  // The cached identity is provisional: it is used at once (fast first paint), but the live
  // sources keep being polled, since analytics.js loads async and the visitor may have logged
  // in or out since the cache was written. Any live or explicit identity ends the polling.
  function poll() {
    timer = undefined;
    if (current && current.source !== "cache") return;
    const found = discoverIdentity(win);
    const claims = found && withoutUntrusted(found.claims, untrusted);
    if (found && claims) {
      const hash = fromUrl.hash || env.userHash;
      return adopt(hash ? { ...found, claims, hash } : { ...found, claims });
    }
    if (!current) {
      const cached = cachedIdentity(store.read(CLAIMS_KEY));
      if (cached) adopt(cached);
    }
    timer = setTimer(poll, delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }

  const api: HullBrowser = {
    on(event, fn) {
      emitter.on(event, fn);
      if (event !== USER_UPDATE) return;
      // Sticky replay: a listener registered after the snippet ran still gets the current
      // state, so script ordering on the page does not matter. Async, so the code right after
      // `on()` has run first, as with a promise.
      const replay = state.replay();
      const seen = updates;
      Promise.resolve().then(() => {
        // Skip when a live update reached `fn` meanwhile: it would replay older state.
        if (!replay || seen !== updates || !emitter.has(event, fn)) return;
        try {
          fn(replay);
        } catch (e) {
          rethrow(e);
        }
      });
    },
    once(event, fn) {
      if (typeof fn !== "function") return;
      const wrapper: Listener = (detail) => {
        api.off(event, wrapper);
        fn(detail);
      };
      api.on(event, wrapper);
    },
    off: emitter.off,
    identify(claims, hash) {
      const clean = cleanClaims(claims);
      if (!clean) {
        return warn("[hull-browser] identify() needs id, external_id, email or anonymous_id");
      }
      if (timer !== undefined) clearTimer(timer);
      timer = undefined;
      const identity: Identity = { source: "identify", claims: clean };
      if (typeof hash === "string" && hash) identity.hash = hash;
      adopt(identity);
    },
    last: state.last,
    push(...calls) {
      for (const call of calls) {
        if (!Array.isArray(call)) continue;
        const [method, ...args] = call;
        // deno-lint-ignore no-explicit-any
        const fn = {}.hasOwnProperty.call(api, method) && (api as any)[method];
        if (method !== "push" && typeof fn === "function") fn(...args);
      }
    },
    socket,
  };

  function start(queued?: unknown) {
    if (socket) {
      // Every connect, the first and each reconnect: the server forgot our rooms.
      socket.on("connect", send);
      socket.on("user.update", (payload: unknown) => {
        const detail = state.accept(payload);
        if (detail) deliver(detail);
      });
      socket.on("room.joined", (data: { warning?: unknown } | undefined) => {
        // The server ignored some claims (identity verification required, no valid hash).
        if (typeof data?.warning === "string") warn("[hull-browser] " + data.warning);
        emitter.emit("room.joined", data);
      });
      // Right to be forgotten: the profile was deleted, so drop what this browser cached.
      socket.on("user.delete", () => {
        state.clear();
        store.write(CLAIMS_KEY, null);
        emitter.emit("user.delete", {});
      });
      socket.on("close", (data: { message?: string } | undefined) => {
        warn("[hull-browser] " + (data?.message || "connection closed by the server"));
      });
      let failures = 0;
      socket.on("connect_error", (error: Error) => {
        // Warn on the first failure and when socket.io gives up (`active === false`: refused by
        // the server, whose message says why, e.g. an Origin that is not whitelisted); the
        // retries in between stay silent, and `warn` prints each message once.
        if (!failures++ || socket.active === false) {
          warn("[hull-browser] cannot connect: " + error.message);
        }
      });
    }
    if (Array.isArray(queued)) api.push(...queued);
    const replay = state.replay();
    if (replay) env.dispatch?.(replay);
    if (!current) poll();
  }

  return { api, start };
}
