/**
 * Section 6 of bench/results.md: where the CPU of a push run goes, in the connector and in the
 * Node.js socket.io baseline, split the same way (bench/profile_parts.ts). Each system runs once
 * more, under V8's CPU profiler, apart from the measured runs: the profiler costs CPU too.
 */
import { type Part, PARTS, profileParts } from "./profile_parts.ts";
import { postBatch, push as pushRun, type PushFigures } from "./push.ts";
import { log, PROFILE, sleep } from "./params.ts";
import { collect, loadsFor, machineBusyMs, openTo, type Proc, threadCpu } from "./procs.ts";

/** Sampling interval of the profiler, µs (V8's default). */
const INTERVAL_US = 1_000;

/** The systems profiled, and the frame that marks their webhook work (the run's end). */
export const PROFILED = {
  // With webhook workers, the isolate holding the sockets sees a batch as the pool's message.
  connector: (f: { url: string }) =>
    f.url.endsWith("/lib/webhook/notifications.ts") || f.url.endsWith("/lib/webhook/pool.ts"),
  node: (f: { url: string; functionName: string }) =>
    f.functionName === "payloadOf" && f.url.endsWith("node_socketio.mjs"),
};

/** CPU per batch (ms) of one profiled push run, by part and by thread. */
export interface PartsFigures {
  visitors: number;
  inFlight: number;
  batches: number;
  pushesPerSec: number;
  delivered: number;
  expected: number;
  /**
   * Main thread CPU by part: the profile's share of each part of the thread's non-idle time,
   * times its CPU from /proc. V8 samples wall time, so on two shared cores a thread waiting
   * for a core is sampled too; the shares hold, the sampled milliseconds run high.
   */
  main: Record<Exclude<Part, "idle">, number>;
  /** Main thread, as sampled (wall time, `idle` included). */
  sampled: Record<Part, number>;
  /** Main thread (the isolate holding the sockets), utime+stime from /proc. */
  mainThread: number;
  /** The webhook workers' threads (Deno names them `worker-<n>`), from /proc; 0: none. */
  workers: number;
  /**
   * The webhook workers' CPU by part: each part's share of their profiles' busy samples, times
   * `workers`; absent without workers.
   */
  workerParts?: Record<Exclude<Part, "idle">, number>;
  /** Every other thread but the profiler's: V8's GC and compiler helpers, I/O, KV's writer. */
  otherThreads: number;
  /** The profiler's own thread (`v8:ProfEvntProc`), not counted above. */
  profiler: number;
  /**
   * The whole machine (both cores: the server, the load generators, this harness), the
   * profiler's thread left out: what one batch costs the machine.
   */
  machine: number;
  /** The other threads by name (Deno names V8's helpers, tokio's and SQLite's threads). */
  threads: Record<string, number>;
}

/**
 * Boots a system with the profiler's flags (`boot(flags)`), holds `visitors` identified
 * sockets, pushes with `inFlight` batches at once for `seconds` after a warm-up, and reads the
 * profile written at exit (SIGTERM).
 */
export async function profiledPush(
  name: keyof typeof PROFILED,
  boot: (runtimeFlags: string[]) => Promise<Proc>,
  o: { visitors: number; seconds: number; warmupSeconds: number; inFlight: number },
): Promise<PartsFigures> {
  const dir = await Deno.makeTempDir({ prefix: "hb-prof-" });
  try {
    const proc = await boot([
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-interval=${INTERVAL_US}`,
    ]);
    const loads = loadsFor(proc.url, "sio");
    let threads0 = new Map<string, { name: string; ms: number }>(), threads1 = threads0;
    let t0 = 0, windowMs = 0, machine = 0;
    let f: PushFigures;
    try {
      await openTo(loads, o.visitors);
      await sleep(3_000);
      // Every visitor's user once, so the run measures updates of known users (no first
      // writes), as in Hull's steady traffic.
      const cycle = Math.ceil(o.visitors / 100);
      let next = 0;
      await Promise.all(Array.from({ length: o.inFlight }, async () => {
        while (next < cycle) await postBatch(proc.url, next++, o.visitors);
      }));
      await collect(loads);
      f = await pushRun(proc.url, () => collect(loads), {
        ...o,
        first: cycle,
        async onMeasured(phase) {
          if (phase === "start") {
            threads0 = await threadCpu(proc.pid);
            machine = await machineBusyMs();
            t0 = performance.now();
          } else {
            windowMs = performance.now() - t0;
            await sleep(100); // the last batch's pushes are written
            threads1 = await threadCpu(proc.pid);
            machine = await machineBusyMs() - machine;
          }
        },
      });
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
      proc.child.kill("SIGTERM");
      await Promise.race([proc.child.status, sleep(30_000)]);
      await proc.stop().catch(() => {}); // SIGKILL, if SIGTERM was not enough
    }
    // Deno writes one profile per isolate: `….worker-<n>.cpuprofile` for each worker.
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      n.endsWith(".cpuprofile")
    );
    const file = files.find((n) => !/\.worker-\d+\./.test(n));
    if (!file) throw new Error(`${name}: no profile written`);
    if (PROFILE) await Deno.copyFile(`${dir}/${file}`, `${PROFILE}/parts-${name}.cpuprofile`);
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${file}`));
    const ms = profileParts(profile, PROFILED[name], windowMs);
    if (!ms) throw new Error(`${name}: the profile has no webhook work`);
    const inWorkers = await workerSamples(dir, files.filter((n) => n !== file), windowMs);
    const per = (x: number) => x / Math.max(1, f.batches);
    let main = 0, other = 0, profiler = 0, workers = 0;
    const threads: Record<string, number> = {};
    for (const [tid, t] of threads1) {
      const used = t.ms - (threads0.get(tid)?.ms ?? 0);
      if (tid === String(proc.pid)) {
        main += used;
      } else if (/^worker-\d+$/.test(t.name)) {
        workers += used;
      } else if (t.name === "v8:ProfEvntProc") {
        profiler += used;
      } else {
        other += used;
        threads[t.name] = (threads[t.name] ?? 0) + per(used);
      }
    }
    const out: PartsFigures = {
      visitors: o.visitors,
      inFlight: o.inFlight,
      batches: f.batches,
      pushesPerSec: f.pushesPerSec,
      delivered: f.delivered,
      expected: f.expected,
      main: sharesOf(ms, per(main)),
      sampled: Object.fromEntries(PARTS.map((p) => [p, per(ms[p])])) as Record<Part, number>,
      mainThread: per(main),
      workers: per(workers),
      workerParts: inWorkers ? sharesOf(inWorkers, per(workers)) : undefined,
      otherThreads: per(other),
      threads,
      profiler: per(profiler),
      machine: per(machine - profiler),
    };
    log(`${name}: profiled push`, JSON.stringify(out));
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `total` split by each part's share of the busy (not idle) samples in `ms`. */
function sharesOf(ms: Record<Part, number>, total: number): PartsFigures["main"] {
  const busy = PARTS.reduce((a, p) => p === "idle" ? a : a + ms[p], 0);
  return Object.fromEntries(
    PARTS.filter((p) => p !== "idle").map((p) => [p, total * ms[p] / Math.max(1, busy)]),
  ) as PartsFigures["main"];
}

/**
 * The webhook workers' samples per part, summed over their profiles (each over the `windowMs`
 * before its last webhook sample); null when there are none.
 */
async function workerSamples(
  dir: string,
  files: string[],
  windowMs: number,
): Promise<Record<Part, number> | null> {
  let sum: Record<Part, number> | null = null;
  for (const name of files) {
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${name}`));
    const ms = profileParts(profile, PROFILED.connector, windowMs);
    if (!ms) continue;
    sum ??= Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
    for (const p of PARTS) sum[p] += ms[p];
  }
  return sum;
}
