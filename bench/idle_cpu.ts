/**
 * Where does an idle connector's CPU go? Starts the connector (`main.ts`, its own process, Deno
 * KV file in a temp dir, the benchmark's environment) with `--inspect`, opens N identified
 * sockets from the benchmark's load processes, lets it settle, then for `--seconds` reads its
 * CPU (utime+stime, all threads) and, at once, V8's CPU profile through the inspector, and
 * prints the CPU in % of one core with the JavaScript functions that took the most of it.
 *
 *   deno run -A bench/idle_cpu.ts [N=5000] [--seconds=20] [--top=20]
 */
import { CONNECTOR_ENV, DENO, ROOT, sleep } from "./params.ts";
import { cpuMs, loadsFor, openTo, spawnServer } from "./procs.ts";
import { connectInspector } from "./cdp.ts";

const N = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 5000);
const SECONDS = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 20);
const TOP = Number(Deno.args.find((a) => a.startsWith("--top="))?.slice(6) ?? 20);

const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 }), inspectPort = probe.addr.port;
probe.close();
const dir = await Deno.makeTempDir({ prefix: "hb-idle-" });
const server = await spawnServer(
  DENO,
  ["run", "-A", `--inspect=127.0.0.1:${inspectPort}`, new URL("main.ts", ROOT).pathname],
  { ...CONNECTOR_ENV, KV_PATH: `${dir}/kv.sqlite` },
);
const inspector = await connectInspector(inspectPort);
const loads = loadsFor(server.url, "sio");

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

try {
  const r = await openTo(loads, N);
  await sleep(3_000); // the burst's own work (handshakes, event-log flushes) ends
  await inspector.call("Profiler.enable");
  await inspector.call("Profiler.setSamplingInterval", { interval: 1000 });
  await inspector.call("Profiler.start");
  const cpu0 = await cpuMs(server.pid);
  await sleep(SECONDS * 1000);
  const cpu = (await cpuMs(server.pid) - cpu0) / (SECONDS * 10);
  const { profile } = await inspector.call("Profiler.stop") as {
    profile: { nodes: ProfileNode[]; samples: number[] };
  };
  const byFn = new Map<string, number>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(node_modules|npm|lib|ext)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  const total = profile.samples.length;
  console.log(`\n### Idle connector, ${r.identified} identified sockets, ${SECONDS} s\n`);
  console.log(`process CPU: ${cpu.toFixed(1)} % of one core (all threads)\n`);
  console.log("| self samples (1 ms) | % of samples | function |\n|--:|--:|---|");
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`| ${v} | ${(100 * v / total).toFixed(1)} | \`${k}\` |`);
  }
} finally {
  inspector.close();
  for (const l of loads) await l.stop();
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
