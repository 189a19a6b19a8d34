/**
 * `deno task bench [--quick]`: the connector against two baselines on this machine, in one run,
 * driven by the same load generators (bench/load.ts, several processes: one process may hold
 * at most ~20,000 descriptors here). Writes bench/results.md and bench/results.json.
 *
 * Systems: the connector (main.ts, Deno KV store), Node.js + socket.io 4
 * (bench/baselines/node_socketio.mjs) and raw Deno WebSocket (bench/baselines/raw_deno_ws.ts).
 * Scenarios: Hold, Push back to back and with 4 batches in flight (bench/push.ts), Identify
 * (all three systems), where a batch's CPU goes (the connector and Node.js under V8's profiler,
 * bench/cpu_parts.ts), Cross-instance over Deno KV and Redis, Snippet (connector only). See
 * bench/results.md for what each figure means.
 */
import { pct, push as pushRun, type PushFigures, SECRET } from "./push.ts";
import { startRedis } from "./harness/redis.ts";
import { profiledPush } from "./cpu_parts.ts";
import {
  CONNECTOR_ENV,
  CONNECTOR_FLAGS,
  DENO,
  KV_DIR,
  log,
  ONLY,
  P,
  PROFILE,
  PUBLIC_TRAITS,
  QUICK,
  sleep,
} from "./params.ts";
import {
  collect,
  cpuMs,
  idleCpu,
  Load,
  loadsFor,
  openTo,
  type Proc,
  rssMB,
  spawnServer,
} from "./procs.ts";

/**
 * One Push run (bench/push.ts) against `loads`' pages, with the common warm-up; with the
 * server's CPU per batch (utime+stime of `pid` over every batch posted, warm-up included).
 */
async function push(
  url: string,
  pid: number,
  loads: Load[],
  visitors: number,
  seconds: number,
  first = 0,
  inFlight = 1,
): Promise<PushFigures & { cpuMsPerBatch: number }> {
  const cpu0 = await cpuMs(pid);
  const f = await pushRun(url, () => collect(loads), {
    visitors,
    seconds,
    first,
    inFlight,
    warmupSeconds: P.warmupSeconds,
  });
  const used = await cpuMs(pid) - cpu0;
  return { ...f, cpuMsPerBatch: used / Math.max(1, f.endBatch - first) };
}

/**
 * One Identify run: `concurrency` new sockets at a time per load process, each sending
 * `user.fetch` for a known visitor. Also the server's CPU per identify (utime+stime of `pid`
 * over the run) and identifies per second of wall time.
 */
async function identifyRun(
  loads: Load[],
  pid: number,
  known: number,
  count: number,
  concurrency: number,
) {
  const per = Math.floor(Math.min(count, known) / loads.length);
  const cpu0 = await cpuMs(pid);
  const t0 = performance.now();
  const r = await Promise.all(
    loads.map((l) => l.send({ cmd: "identify", from: 0, count: per, concurrency })),
  );
  const seconds = (performance.now() - t0) / 1000;
  const used = await cpuMs(pid) - cpu0;
  const lat = r.flatMap((x) => x.lat).sort((a: number, b: number) => a - b);
  return {
    count: lat.length,
    failed: r.reduce((a, x) => a + x.failed, 0),
    concurrency: concurrency * loads.length,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    perSec: lat.length / seconds,
    cpuMsPerIdentify: lat.length ? used / lat.length : NaN,
  };
}

/** Ms between the last socket of a hold identified and the RSS reading. */
const SETTLE_MS = 3_000;

// ---------------------------------------------------------------- systems

type SystemName = "connector" | "node" | "raw";
/** `boot(flags)`: the server, with `flags` for its runtime (the profiler's, section 6). */
const SYSTEMS: Record<
  SystemName,
  { label: string; mode: "sio" | "json"; boot(flags?: string[]): Promise<Proc> }
> = {
  connector: {
    label: "hull-browser (main.ts, Deno KV)",
    mode: "sio",
    async boot(flags = []) {
      const kv = await Deno.makeTempFile({ suffix: ".sqlite", dir: KV_DIR });
      // Section 6 profiles the connector itself (its flags name their own directory).
      const prof = PROFILE && !flags.length ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : [];
      const run = ["run", "-A", ...CONNECTOR_FLAGS, ...flags, ...prof, "main.ts"];
      const p = await spawnServer(DENO, run, {
        ...CONNECTOR_ENV,
        KV_PATH: kv,
      });
      if (!prof.length) return p;
      return {
        ...p,
        async stop() {
          p.child.kill("SIGTERM");
          await Promise.race([p.child.status, sleep(15_000)]);
          await p.stop();
        },
      };
    },
  },
  node: {
    label: "Node.js socket.io 4 baseline",
    mode: "sio",
    boot: (flags = []) =>
      spawnServer("node", [...flags, "bench/baselines/node_socketio.mjs"], {
        WEBHOOK_SECRET: SECRET,
        PUBLIC_TRAITS,
      }),
  },
  raw: {
    label: "raw Deno WebSocket baseline",
    mode: "json",
    boot: (flags = []) =>
      spawnServer(DENO, ["run", "-A", ...flags, "bench/baselines/raw_deno_ws.ts"], {
        WEBHOOK_SECRET: SECRET,
        PUBLIC_TRAITS,
      }),
  },
};

interface HoldFigures {
  n: number;
  identified: number;
  failed: number;
  ratePerSec: number;
  rssMB: number;
  kbPerSocket: number;
  idleCpuPct: number;
}

async function runSystem(name: SystemName) {
  const sys = SYSTEMS[name];
  log(`${name}: boot`);
  const proc = await sys.boot();
  const loads = loadsFor(proc.url, sys.mode);
  const out: {
    hold: HoldFigures[];
    push: PushFigures[];
    identify?: unknown;
    identifyCalm?: unknown;
    idleRssMB: number;
  } = {
    hold: [],
    push: [],
    idleRssMB: 0,
  };
  try {
    await sleep(1_000);
    out.idleRssMB = await rssMB(proc.pid);
    let have = 0;
    let batch = 0;
    let total = 0;
    for (const n of P.holds) {
      const t = performance.now();
      const r = await openTo(loads, n);
      const seconds = (performance.now() - t) / 1000;
      have = n;
      total += r.identified;
      // Settled: a server that collects the burst's garbage once connections stop (as Node's
      // V8 does) is measured after it did.
      await sleep(SETTLE_MS);
      const rss = await rssMB(proc.pid);
      const cpu = await idleCpu(proc.pid, P.idleSeconds);
      const h: HoldFigures = {
        n,
        identified: total,
        failed: r.failed,
        ratePerSec: r.identified / seconds,
        rssMB: rss,
        kbPerSocket: (rss - out.idleRssMB) * 1024 / n,
        idleCpuPct: cpu,
      };
      out.hold.push(h);
      log(`${name}: hold`, JSON.stringify(h));
      for (const p of P.push.filter((p) => p.visitors === have)) {
        for (const inFlight of P.inFlight) {
          const f = await push(proc.url, proc.pid, loads, p.visitors, p.seconds, batch, inFlight);
          batch = f.endBatch;
          out.push.push(f);
          log(`${name}: push`, JSON.stringify(f));
          if (!out.identify) {
            const known = Math.min(have, batch * 100);
            // As Hull's visitors arrive in a burst (10 new sockets at a time per load process),
            // then unhurried (one at a time per process, 4 at once).
            out.identify = await identifyRun(loads, proc.pid, known, P.identify, 10);
            log(`${name}: identify`, JSON.stringify(out.identify));
            out.identifyCalm = await identifyRun(loads, proc.pid, known, P.identify, 1);
            log(`${name}: identify, one at a time`, JSON.stringify(out.identifyCalm));
          }
        }
      }
    }
  } catch (err) {
    log(`${name}: FAILED`, err, proc.tail());
    (out as Record<string, unknown>).error = String(err);
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await proc.stop();
  }
  return out;
}

// ---------------------------------------------------------------- cross-instance

async function crossRun(label: string, urls: [string, string], pid: number) {
  const loads = loadsFor(urls[0], "sio");
  try {
    const o = await openTo(loads, P.cross.visitors);
    log(`cross ${label}: ${o.identified} identified, ${o.failed} failed`);
    // Warm both paths, then the same instance, then the other one.
    await push(urls[0], pid, loads, P.cross.visitors, 0.5, 0);
    await push(urls[1], pid, loads, P.cross.visitors, 0.5, 1000);
    const local = await push(urls[0], pid, loads, P.cross.visitors, P.cross.seconds, 2000);
    const remote = await push(urls[1], pid, loads, P.cross.visitors, P.cross.seconds, 4000);
    const r = { visitors: o.identified, local, remote, addedP50: remote.p50 - local.p50, pid };
    log(`cross ${label}:`, JSON.stringify(r));
    return r;
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
  }
}

async function crossKv() {
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      new URL("kv_cluster.ts", import.meta.url).pathname,
      JSON.stringify({ ...CONNECTOR_ENV, WEBHOOK_SECRET: SECRET }),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("kv cluster exited");
    line += value;
  }
  const { ports } = JSON.parse(line);
  try {
    return await crossRun(
      "kv",
      [`http://127.0.0.1:${ports[0]}`, `http://127.0.0.1:${ports[1]}`],
      child.pid,
    );
  } finally {
    await child.stdin.close().catch(() => {});
    await Promise.race([child.status, sleep(5_000)]);
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  }
}

async function crossRedis() {
  const redis = await startRedis();
  const procs: Proc[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      procs.push(
        await spawnServer(DENO, ["run", "-A", "main.ts"], {
          ...CONNECTOR_ENV,
          REDIS_URL: redis.url,
        }),
      );
    }
    return await crossRun("redis", [procs[0].url, procs[1].url], procs[0].pid);
  } finally {
    for (const p of procs) await p.stop();
    await redis.stop();
  }
}

async function snippet() {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", new URL("snippet.ts", import.meta.url).pathname, `${P.snippetRuns}`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  const ms = [...r.ms].sort((a: number, b: number) => a - b);
  return { ...r, median: pct(ms, 50) };
}

async function ensureNodeBaseline() {
  const dir = new URL("baselines/", import.meta.url).pathname;
  try {
    await Deno.stat(`${dir}node_modules/socket.io`);
  } catch {
    log("npm install (bench/baselines)");
    const r = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--silent"],
      cwd: dir,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!r.success) throw new Error("npm install failed in bench/baselines");
  }
}

// ---------------------------------------------------------------- run

const started = performance.now();
await ensureNodeBaseline();
const want = (s: string) => !ONLY || ONLY.includes(s);
const systems: Partial<Record<SystemName, Awaited<ReturnType<typeof runSystem>>>> = {};
for (const s of ["connector", "node", "raw"] as SystemName[]) {
  if (want(s)) systems[s] = await runSystem(s);
}
// Where the CPU goes: the connector and Node.js once more each, profiled (section 6). A quick
// run leaves it out unless asked (`--only=parts`): it would take the run past 3 minutes.
const parts: Record<string, unknown> = {};
if (QUICK ? ONLY?.includes("parts") : want("parts")) {
  for (const s of ["connector", "node"] as const) {
    parts[s] = await profiledPush(s, (flags) => SYSTEMS[s].boot(flags), {
      ...P.parts,
      warmupSeconds: P.warmupSeconds,
      inFlight: 4,
    }).catch((e) => ({ error: String(e) }));
  }
}
const cross: Record<string, unknown> = {};
if (want("kv")) cross.kv = await crossKv().catch((e) => ({ error: String(e) }));
if (want("redis")) cross.redis = await crossRedis().catch((e) => ({ error: String(e) }));
const snip = want("snippet") ? await snippet().catch((e) => ({ error: String(e) })) : null;

const nodeVersion = new TextDecoder().decode(
  (await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output()).stdout,
).trim();
const memGiB = Number(
  (await Deno.readTextFile("/proc/meminfo")).match(/MemTotal:\s+(\d+)/)![1],
) / 1024 / 1024;
const cpuModel = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
const machine = {
  cores: navigator.hardwareConcurrency,
  cpu: cpuModel ?? "unknown",
  memoryGiB: Math.round(memGiB * 10) / 10,
  deno: Deno.version.deno,
  v8: Deno.version.v8,
  node: nodeVersion,
  os: `${Deno.build.os} ${Deno.osRelease()}`,
};
const results = {
  mode: QUICK ? "quick" : "full",
  date: new Date().toISOString(),
  seconds: Math.round((performance.now() - started) / 1000),
  machine,
  params: P,
  systems,
  parts,
  cross,
  snippet: snip,
  kvDir: KV_DIR,
};
await Deno.writeTextFile(
  new URL("results.json", import.meta.url),
  JSON.stringify(results, null, 2) + "\n",
);
const { renderMarkdown } = await import("./report.ts");
const { renderTargets } = await import("./targets.ts");
await Deno.writeTextFile(new URL("results.md", import.meta.url), renderMarkdown(results));
console.log(renderTargets(results));
log(`done in ${results.seconds} s: bench/results.md, bench/results.json`);
Deno.exit(0);
