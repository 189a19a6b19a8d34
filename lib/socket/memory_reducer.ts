/**
 * Gives back the memory a burst of connections leaves behind. Each handshake leaves about 20 KB
 * of garbage (HTTP parser, request, upgrade, engine.io and socket.io handshake objects, events)
 * that V8 does not collect while its old generation is far below the limit, and Deno sends V8 no
 * idle notifications, so V8's own memory reducer never runs: RSS stays at the burst's high-water
 * mark (measured: ~44 KB per held socket, ~22.5 KB after one full GC; bench/memory_per_socket.md).
 * After a burst, once the server has been quiet for a moment (no new connection, no webhook in
 * flight, nothing broadcast or otherwise done to sockets, whether it came from a webhook here or
 * from another instance over the cluster bus), this runs one memory-reducing full GC, as V8's
 * memory reducer does in a browser or in Node. The price is one pause, measured at ~430 ms with
 * 10,000 sockets held and ~730 ms with 19,500 (a push arriving then waits for it);
 * MEMORY_REDUCER=off leaves memory to V8. Off where V8 refuses to expose its gc.
 */
import v8 from "node:v8";
import vm from "node:vm";
import type { Server } from "socket.io";

type Applier = { apply: (opts: unknown, callback: unknown) => void };

export interface MemoryReducerOptions {
  /** New connections since the last run that make a run worth its pause (default 1,000). */
  minConnections?: number;
  /** Ms without a new connection before a run (default 1,000). */
  quietMs?: number;
  /** Least ms between two runs (default 10,000). */
  minIntervalMs?: number;
}

export interface MemoryReducer {
  /** Runs so far, with the last one's figures. */
  readonly runs: number;
  readonly last: { ms: number; heapBeforeMB: number; heapAfterMB: number } | null;
  stop(): void;
}

type Gc = (options?: unknown) => void;

/** V8's gc function, exposed at runtime; null where that is refused. */
function exposeGc(): Gc | null {
  try {
    const existing = (globalThis as { gc?: Gc }).gc;
    if (typeof existing === "function") return existing;
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : null;
  } catch {
    return null;
  }
}

/**
 * Watches `io`'s connections and runs a full GC after a burst, while `busy()` is false (no
 * webhook in flight: a push must not wait for the pause) and no namespace adapter has touched a
 * socket for `quietMs`. `onRun` gets each pause in ms.
 */
export function startMemoryReducer(
  io: Server,
  busy: () => boolean,
  opts: MemoryReducerOptions = {},
  onRun?: (ms: number) => void,
): MemoryReducer {
  const minConnections = opts.minConnections ?? 1_000;
  const quietMs = opts.quietMs ?? 1_000;
  const minIntervalMs = opts.minIntervalMs ?? 10_000;
  const gc = exposeGc();
  let connections = 0;
  let lastConnection = 0;
  let lastRun = -Infinity;
  // Every broadcast reaches sockets through its namespace adapter's `apply`, local ones and
  // those a cluster adapter receives from other instances alike (socket.io-adapter's
  // `broadcast`, `fetchSockets`, `socketsJoin`... all call it), while a webhook in flight is
  // only seen by the instance that received it: an instance whose visitors get their pushes
  // over the bus would otherwise pause for the GC in the middle of them. Adapters are replaced
  // when `io.adapter()` is set, so they are looked for at each check.
  const counted = new WeakSet<object>();
  let touches = 0;
  let touchesSeen = 0;
  let lastTouch = 0;
  const countTouches = () => {
    for (const nsp of io._nsps.values()) {
      const adapter = nsp.adapter as unknown as Applier;
      if (counted.has(adapter)) continue;
      counted.add(adapter);
      const apply = adapter.apply;
      adapter.apply = function (this: unknown, opts: unknown, callback: unknown) {
        touches++;
        apply.call(this, opts, callback);
      };
    }
  };
  const state = {
    runs: 0,
    last: null as MemoryReducer["last"],
    stop: () => {},
  };
  if (!gc) return state;
  const onConnection = () => {
    connections++;
    lastConnection = performance.now();
  };
  io.engine.on("connection", onConnection);
  countTouches();
  const timer = setInterval(() => {
    const now = performance.now();
    countTouches();
    if (touches !== touchesSeen) {
      touchesSeen = touches;
      lastTouch = now;
    }
    if (
      connections < minConnections || now - lastConnection < quietMs ||
      now - lastTouch < quietMs || now - lastRun < minIntervalMs || busy()
    ) return;
    connections = 0;
    lastRun = now;
    const heapBefore = Deno.memoryUsage().heapUsed;
    // "last-resort": the memory-reducing kind, which also hands the freed pages back.
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    const heapAfter = Deno.memoryUsage().heapUsed;
    state.runs++;
    onRun?.(Math.round(performance.now() - now));
    state.last = {
      ms: Math.round(performance.now() - now),
      heapBeforeMB: Math.round(heapBefore / 1e6),
      heapAfterMB: Math.round(heapAfter / 1e6),
    };
  }, Math.min(250, quietMs));
  Deno.unrefTimer(timer);
  state.stop = () => {
    clearInterval(timer);
    io.engine.off("connection", onConnection);
  };
  return state;
}
