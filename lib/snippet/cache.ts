/**
 * localStorage access that never throws, and the payload state machine: the last payload is
 * cached so a page load can replay it at once, and a pushed payload becomes an event only when
 * it differs from the last one. Storage may be missing or throw on every access (Safari private
 * mode, cookies disabled, quota): the snippet then works without a cache.
 */
import type { PublicPayload } from "../types.ts";
import { type Changes, diff } from "./diff.ts";

/** localStorage key of the last payload (a contract: pages and tests may read it). */
export const PAYLOAD_KEY = "hull-browser:payload";
/**
 * localStorage key of the original connector's cache (its whole last `user.update`, `script`
 * included): read when ours is empty, so a returning visitor gets a replay after a migration.
 */
export const LEGACY_PAYLOAD_KEY = "hull_browser";
/** localStorage key of the connector's `script` setting, as last announced by the server. */
export const SCRIPT_KEY = "hull-browser:script";
/** localStorage key of the last identity: `{ claims, hash? }`. */
export const CLAIMS_KEY = "hull-browser:claims";

/** The subset of `Storage` we use. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** JSON values in storage; every method swallows storage errors. */
export interface SafeStore {
  /** The parsed value, or undefined when missing, unreadable or not JSON. */
  read(key: string): unknown;
  /** Stores `value` as JSON; false when storage refused. */
  write(key: string, value: unknown): boolean;
}

/**
 * A {@link SafeStore} over `getStorage()`. Storage is looked up on every call because merely
 * reading `window.localStorage` throws a SecurityError when storage is disabled.
 */
export function createStore(getStorage: () => StorageLike | null | undefined): SafeStore {
  return {
    read(key) {
      try {
        const raw = getStorage()?.getItem(key);
        return raw ? JSON.parse(raw) : undefined;
      } catch {
        return undefined;
      }
    },
    write(key, value) {
      try {
        const storage = getStorage();
        if (!storage) return false;
        storage.setItem(key, JSON.stringify(value));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** A payload as pages see it: the server's `user.update` without `message`. */
export type Payload = Omit<PublicPayload, "message">;

/** What `hullBrowser.on("user.update", cb)` receives. `changes` is undefined on a replay. */
export interface UpdateDetail extends Payload {
  changes: Changes | undefined;
  /** True for a test push from the dashboard (delivered even when nothing changed). */
  test?: true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Keeps the five payload fields (drops `message` and anything unknown) and fills defaults;
 * undefined when `input` has no `user` object (a corrupt cache or a malformed push).
 */
export function normalizePayload(input: unknown): Payload | undefined {
  if (!isObject(input) || !isObject(input.user)) return undefined;
  const list = (v: unknown) => (Array.isArray(v) ? v : []);
  return {
    user: input.user as Payload["user"],
    account: isObject(input.account) ? input.account : {},
    segments: list(input.segments),
    account_segments: list(input.account_segments),
    events: list(input.events),
  };
}

/** Deep copy, so page code mutating a detail cannot corrupt the state we diff against. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

/** The payload state returned by {@link createPayloadState}. */
export interface PayloadState {
  /** A copy of the last payload, if any. */
  last(): Payload | undefined;
  /** The last payload as a replay detail (`changes === undefined`), if any. */
  replay(): UpdateDetail | undefined;
  /**
   * Takes a pushed payload: when it differs from the last one, stores it and returns the
   * detail with `changes`; otherwise (or when malformed) returns undefined: no event.
   */
  accept(input: unknown): UpdateDetail | undefined;
  /** Forgets the payload (memory and cache), after the profile was deleted. */
  clear(): void;
}

/**
 * The cached payload: ours, else the original connector's `hull_browser` (only when it holds a
 * user id, as the original required before emitting).
 */
export function readCachedPayload(store: SafeStore): unknown {
  const ours = store.read(PAYLOAD_KEY);
  if (ours) return ours;
  const legacy = store.read(LEGACY_PAYLOAD_KEY);
  const user = isObject(legacy) && isObject(legacy.user) ? legacy.user : undefined;
  return user && typeof user.id === "string" && user.id ? legacy : undefined;
}

/**
 * Payload state seeded from the cache. The very first payload (no cache) is diffed against
 * nothing, so each top-level part is reported as added (`user: [undefined, {…}]`), as the
 * original did: `changes === undefined` is reserved for replays of known state.
 */
export function createPayloadState(store: SafeStore): PayloadState {
  const cached = readCachedPayload(store);
  let last = normalizePayload(cached);
  let version = versionOf(cached);
  return {
    last: () => (last ? copy(last) : undefined),
    replay: () => (last ? { ...copy(last), changes: undefined } : undefined),
    accept(input) {
      const next = normalizePayload(input);
      if (!next) return undefined;
      // Several instances may push the same user's updates; one older than what the page
      // shows (same user, lower version) arrived late and must not win.
      const nextVersion = versionOf(input);
      if (
        last && next.user.id === last.user.id && version !== undefined &&
        nextVersion !== undefined && nextVersion < version
      ) return undefined;
      const changes = diff(last, next);
      if (nextVersion !== undefined) version = nextVersion;
      // A test push from the dashboard fires even for an unchanged profile, marked `test`.
      const test = isObject(input) && input.test === true;
      if (!Object.keys(changes).length && !test) return undefined;
      last = next;
      store.write(PAYLOAD_KEY, version === undefined ? next : { ...next, version });
      return test ? { ...copy(next), changes, test } : { ...copy(next), changes };
    },
    clear() {
      last = undefined;
      version = undefined;
      store.write(PAYLOAD_KEY, null);
    },
  };
}

/** The payload's `version` (ms), when it carries a valid one. */
function versionOf(input: unknown): number | undefined {
  const v = isObject(input) ? input.version : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
