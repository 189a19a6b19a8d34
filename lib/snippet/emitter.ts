/**
 * A tiny event emitter for the page API (`hullBrowser.on/off`). A throwing page callback must
 * not stop the others or the snippet, so each call is isolated and the error re-thrown on a
 * fresh task, where it shows up in the console and `window.onerror` like any page error.
 */

/** A page callback. */
// deno-lint-ignore no-explicit-any
export type Listener = (detail: any) => void;

/** The emitter returned by {@link createEmitter}. */
export interface Emitter {
  /** Adds `fn` for `event`; unlike `addEventListener`, adding it twice calls it twice. */
  on(event: string, fn: Listener): void;
  /** Removes `fn` from `event`, or every listener of `event` when `fn` is omitted. */
  off(event: string, fn?: Listener): void;
  /** True while `fn` listens to `event`. */
  has(event: string, fn: Listener): boolean;
  /** Calls every listener of `event` with `detail`. */
  emit(event: string, detail: unknown): void;
}

/** Re-throws `error` on a fresh task: visible in the console without unwinding our code. */
export function rethrow(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}

/** Creates an emitter; `report` receives errors thrown by listeners. */
export function createEmitter(report: (error: unknown) => void = rethrow): Emitter {
  const listeners: Record<string, Listener[]> = {};
  return {
    on(event, fn) {
      if (typeof fn === "function") (listeners[event] ||= []).push(fn);
    },
    off(event, fn) {
      listeners[event] = fn ? (listeners[event] || []).filter((l) => l !== fn) : [];
    },
    has(event, fn) {
      return (listeners[event] || []).indexOf(fn) >= 0;
    },
    emit(event, detail) {
      // Copy: a listener may call off() while we iterate.
      for (const fn of (listeners[event] || []).slice()) {
        try {
          fn(detail);
        } catch (e) {
          report(e);
        }
      }
    },
  };
}
