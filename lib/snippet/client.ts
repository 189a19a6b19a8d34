/**
 * The snippet's behaviour, written against injected stand-ins (window, storage, socket, timers)
 * so it runs unchanged in unit tests: the page API, the queue of calls made before the snippet
 * loaded, identity discovery with retry, `user.fetch` on every (re)connect, and turning pushed
 * payloads into `user.update` events (on `window.hullBrowser`, on Hull.js's `window.Hull` when
 * present, as a DOM event, through `data-hull-*` attributes and the opted-in `script` setting).
 */
import {
  CLAIMS_KEY,
  createPayloadState,
  LEGACY_PAYLOAD_KEY,
  PAYLOAD_KEY,
  SCRIPT_KEY,
  type UpdateDetail,
} from "./cache.ts";
import { createEmitter, type Listener, matches, rethrow } from "./emitter.ts";
import {
  cachedIdentity,
  cleanClaims,
  discoverIdentity,
  type Identity,
  linkFromUrl,
  linkTypes,
  sameClaims,
} from "./identity.ts";
import { createScriptRunner } from "./script.ts";
import type { ClientEnv, HullBrowser } from "./api.ts";

export type { ClientEnv, HullBrowser, SocketLike } from "./api.ts";

/** localStorage key of identifiers planted by URL parameters without `ajs_hash`. */
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

/** Sources that stand in until a live one shows up (they never stop identity polling). */
const PROVISIONAL = new Set(["cache", "link"]);

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
  // The connector's `script` setting, as last announced (`room.joined`); a payload from the
  // original's cache brings its own, as the original ran it on page load.
  const legacy = store.read(PAYLOAD_KEY) ? undefined : store.read(LEGACY_PAYLOAD_KEY);
  const legacyScript = (legacy as { script?: unknown } | undefined)?.script;
  const cachedScript = store.read(SCRIPT_KEY) ?? (state.last() ? legacyScript : undefined);
  let script = typeof cachedScript === "string" ? cachedScript : "";
  const runScript = createScriptRunner(env.allowScript === true, warn);
  // Identifiers planted by `?ajs_uid=` / `?ajs_email=` links without `ajs_hash` are remembered,
  // since analytics.js keeps them in its own storage on later pages too; they are sent marked
  // `link`, and the server decides (only identity mode `off` uses them).
  const fromUrl = linkFromUrl(env.search ?? "");
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
  /** Until start() has replayed the cache, listeners get that replay rather than their own. */
  let started = false;

  /** Hull.js's emitter, when on the page (it may load after us, so looked up each time). */
  function hullEmit(event: string, detail: unknown) {
    const hull = win.Hull as { emit?: unknown } | undefined;
    if (!hull || typeof hull.emit !== "function") return;
    try {
      hull.emit(event, detail);
    } catch (e) {
      rethrow(e);
    }
  }

  /** An update to everything that shows it; `live` false for the replay of the cache. */
  function deliver(detail: UpdateDetail, live = true) {
    if (live) updates++;
    emitter.emit(USER_UPDATE, detail);
    hullEmit(USER_UPDATE, detail);
    env.dispatch?.(detail);
    try {
      env.personalize?.(detail);
    } catch (e) {
      rethrow(e);
    }
    runScript(script, detail as unknown as Record<string, unknown>);
  }

  function send() {
    // Only while connected: socket.io buffers emits made offline and we send on `connect`
    // anyway, so buffering would send the same fetch twice.
    if (!current || !socket?.connected) return;
    const message: Record<string, unknown> = { claims: current.claims };
    if (current.hash) message.hash = current.hash;
    if (current.link?.length) message.link = current.link;
    if (shipId) message.shipId = shipId;
    if (env.platformId) message.platformId = env.platformId;
    socket.emit("user.fetch", message);
  }

  function adopt(identity: Identity) {
    const changed = !current || !sameClaims(current.claims, identity.claims) ||
      current.hash !== identity.hash || String(current.link) !== String(identity.link);
    current = identity;
    if (!changed) return;
    const { claims, hash, link } = identity;
    if (identity.source !== "cache") {
      store.write(CLAIMS_KEY, { claims, ...(hash ? { hash } : {}), ...(link ? { link } : {}) });
    }
    // The server disconnects a socket whose claims it refused, and socket.io does not retry
    // that: new claims deserve a new connection (`connect` then sends them).
    if (socket && !socket.connected && socket.active === false) socket.connect?.();
    send();
  }

  // The cached identity and a link's are provisional: used at once (fast first paint), but the
  // live sources keep being polled, since analytics.js loads async and the visitor may have
  // logged in or out since the cache was written. A live or explicit identity ends the polling.
  function poll() {
    timer = undefined;
    if (current && !PROVISIONAL.has(current.source)) return;
    const found = discoverIdentity(win);
    const hash = fromUrl.hash || env.userHash;
    if (found) {
      const link = linkTypes(found.claims, untrusted);
      const identity: Identity = hash ? { ...found, hash } : { ...found };
      if (link.length) identity.link = link;
      return adopt(identity);
    }
    if (!current && fromUrl.claims) {
      // No analytics.js to pick the link up: the link itself identifies (as the original).
      const link = linkTypes(fromUrl.claims, untrusted);
      const identity: Identity = { source: "link", claims: fromUrl.claims };
      if (fromUrl.hash) identity.hash = fromUrl.hash;
      if (link.length) identity.link = link;
      adopt(identity);
    }
    if (!current) {
      const cached = cachedIdentity(store.read(CLAIMS_KEY));
      if (cached) adopt(cached);
    }
    timer = setTimer(poll, delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }

  /**
   * Sticky replay: a listener added after the snippet started still gets the current state,
   * so script ordering on the page does not matter. Async, so the code right after `on()` has
   * run first, as with a promise. Skipped when a live update reached `fn` meanwhile.
   */
  function replayTo(event: string, fn: Listener) {
    if (!started || typeof fn !== "function" || !matches(event, USER_UPDATE)) return;
    const replay = state.replay();
    const seen = updates;
    if (!replay) return;
    Promise.resolve().then(() => {
      if (seen === updates && emitter.has(event, fn)) emitter.deliverTo(event, fn, [replay]);
    });
  }

  const api: HullBrowser = {
    on(event, fn) {
      emitter.on(event, fn);
      replayTo(event, fn);
    },
    addListener: (event, fn) => api.on(event, fn),
    once: (event, fn) => api.many(event, 1, fn),
    many(event, times, fn) {
      emitter.many(event, times, fn);
      replayTo(event, fn);
    },
    off: emitter.off,
    removeListener: emitter.off,
    removeAllListeners: emitter.removeAll,
    onAny: emitter.onAny,
    offAny: emitter.offAny,
    emit: emitter.emit,
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
      socket.on("room.joined", (data: { warning?: unknown; script?: unknown } | undefined) => {
        // The server ignored some claims (identity verification required, no valid hash).
        if (typeof data?.warning === "string") warn("[hull-browser] " + data.warning);
        // The connector's `script` setting (none: no script), kept for the next page load.
        const next = typeof data?.script === "string" ? data.script : "";
        if (next !== script) {
          script = next;
          store.write(SCRIPT_KEY, next);
        }
        emitter.emit("room.joined", data);
      });
      // Right to be forgotten: the profile was deleted, so drop what this browser cached.
      socket.on("user.delete", () => {
        state.clear();
        store.write(CLAIMS_KEY, null);
        store.write(LEGACY_PAYLOAD_KEY, null);
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
          // socket.io's word for a namespace the server does not serve: an unregistered id.
          const why = error.message === "Invalid namespace"
            ? `connector ${shipId} is not registered on this server (check data-hull-id)`
            : error.message;
          warn("[hull-browser] cannot connect: " + why);
        }
      });
    }
    if (Array.isArray(queued)) api.push(...queued);
    started = true;
    // Page load: the cached payload at once, to every listener (patterns and onAny included),
    // Hull.js, the DOM and the script, with `changes === undefined`, as the original's boot.
    const replay = state.replay();
    if (replay) deliver(replay, false);
    if (!current) poll();
  }

  return { api, start };
}
