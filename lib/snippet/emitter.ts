/**
 * The page's event emitter: the part of EventEmitter2 (`wildcard: true`, `.` delimiter) that
 * pages written for the original connector use: `on`, `once`, `many`, `off`/`removeListener`,
 * `removeAllListeners`, `onAny`/`offAny`, `emit`, and patterns where `*` matches one segment
 * (`user.*`) and `**` any number of them. The npm package is ~40 KB unminified; this is the
 * subset, ~100 lines. A throwing page callback must not stop the others or the snippet, so each
 * call is isolated and the error re-thrown on a fresh task, where it shows up in the console and
 * `window.onerror` like any page error.
 */

/** A page callback. */
// deno-lint-ignore no-explicit-any
export type Listener = (...args: any[]) => void;

/** A listener of any event: EventEmitter2 passes the event name first. */
// deno-lint-ignore no-explicit-any
export type AnyListener = (event: string, ...args: any[]) => void;

/** The emitter returned by {@link createEmitter}. */
export interface Emitter {
  /** Adds `fn` for `event` (a name or a pattern); adding it twice calls it twice. */
  on(event: string, fn: Listener): void;
  /** Adds `fn` for the next `times` events matching `event`. */
  many(event: string, times: number, fn: Listener): void;
  /** Removes `fn` from `event` (once), or every listener of `event` when `fn` is omitted. */
  off(event: string, fn?: Listener): void;
  /** Removes every listener of `event`, or of every event when `event` is omitted. */
  removeAll(event?: string): void;
  /** Adds `fn` for every event. */
  onAny(fn: AnyListener): void;
  /** Removes `fn` from every event, or every any-listener when `fn` is omitted. */
  offAny(fn?: AnyListener): void;
  /** True while `fn` listens to `event` (the same name or pattern it was added with). */
  has(event: string, fn: Listener): boolean;
  /** Calls `fn` as one of its own `event` deliveries (counts towards `many`/`once`). */
  deliverTo(event: string, fn: Listener, args: unknown[]): void;
  /** Calls every listener whose pattern matches `event`, then the any-listeners; true if any. */
  emit(event: string, ...args: unknown[]): boolean;
}

/** Re-throws `error` on a fresh task: visible in the console without unwinding our code. */
export function rethrow(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}

/**
 * True when `pattern` matches the event `name`: segments split on `.`, `*` matches one segment,
 * `**` matches any number (zero included), as EventEmitter2 with `wildcard: true`.
 */
export function matches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (pattern.indexOf("*") < 0) return false;
  const walk = (p: string[], n: string[]): boolean => {
    if (!p.length) return !n.length;
    if (p[0] === "**") {
      for (let i = 0; i <= n.length; i++) if (walk(p.slice(1), n.slice(i))) return true;
      return false;
    }
    return n.length > 0 && (p[0] === "*" || p[0] === n[0]) && walk(p.slice(1), n.slice(1));
  };
  return walk(pattern.split("."), name.split("."));
}

interface Entry {
  event: string;
  fn: Listener;
  /** Calls left; Infinity for `on`. */
  left: number;
}

/** Creates an emitter; `report` receives errors thrown by listeners. */
export function createEmitter(report: (error: unknown) => void = rethrow): Emitter {
  let entries: Entry[] = [];
  let any: AnyListener[] = [];
  const call = (fn: Listener, args: unknown[]) => {
    try {
      fn(...args);
    } catch (e) {
      report(e);
    }
  };
  /** Counts one call of `entry`, dropping it when it has none left; then calls it. */
  const fire = (entry: Entry, args: unknown[]) => {
    if (--entry.left <= 0) entries = entries.filter((e) => e !== entry);
    call(entry.fn, args);
  };
  const add = (event: string, times: number, fn: Listener) => {
    if (typeof fn === "function" && typeof event === "string" && times > 0) {
      entries.push({ event, fn, left: times });
    }
  };
  return {
    on: (event, fn) => add(event, Infinity, fn),
    many: (event, times, fn) => add(event, Number(times), fn),
    off(event, fn) {
      if (!fn) {
        entries = entries.filter((e) => e.event !== event);
        return;
      }
      // Removes one registration, as EventEmitter2 does.
      const i = entries.findIndex((e) => e.event === event && e.fn === fn);
      if (i >= 0) entries = entries.slice(0, i).concat(entries.slice(i + 1));
    },
    removeAll(event) {
      entries = event === undefined ? [] : entries.filter((e) => e.event !== event);
    },
    onAny(fn) {
      if (typeof fn === "function") any.push(fn);
    },
    offAny(fn) {
      any = fn ? any.filter((l) => l !== fn) : [];
    },
    has: (event, fn) => entries.some((e) => e.event === event && e.fn === fn),
    deliverTo(event, fn, args) {
      const entry = entries.find((e) => e.event === event && e.fn === fn);
      if (entry) fire(entry, args);
    },
    emit(event, ...args) {
      // Snapshots: a listener may add or remove listeners while we iterate.
      // Either side may be a pattern: `emit("user.*")` reaches `on("user.update")` too.
      const hit = entries.filter((e) => matches(e.event, event) || matches(event, e.event));
      for (const entry of hit) if (entries.indexOf(entry) >= 0) fire(entry, args);
      const anyNow = any.slice();
      for (const fn of anyNow) call(fn, [event, ...args]);
      return hit.length + anyNow.length > 0;
    },
  };
}
