/** Renders bench/results.json as the markdown of bench/results.md. */
// deno-lint-ignore-file no-explicit-any
import { renderTargets } from "./targets.ts";
import { renderParts } from "./report_parts.ts";
const SYS = ["connector", "node", "raw"] as const;
const f = (v: unknown, d = 1) =>
  typeof v === "number" && Number.isFinite(v)
    ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";
const ratio = (a: unknown, b: unknown) =>
  typeof a === "number" && typeof b === "number" && Number.isFinite(a) && Number.isFinite(b) &&
    b !== 0
    ? `${(a / b).toFixed(2)}×`
    : "–";

export function renderMarkdown(r: any): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# hull-browser benchmark (${r.mode} run)\n`);
  out.push(
    `${r.date}, ${r.seconds} s. Rerun: \`deno task bench\` (full, < 15 min) or ` +
      "`deno task bench --quick` (< 3 min). Raw figures: `bench/results.json`.\n",
  );
  out.push("| machine | |\n|---|---|");
  out.push(`| cores | ${m.cores} (${m.cpu}) |`);
  out.push(`| memory | ${m.memoryGiB} GiB |`);
  out.push(`| Deno | ${m.deno} (V8 ${m.v8}) |`);
  out.push(`| Node.js | ${m.node} |`);
  out.push(`| OS | ${m.os} |\n`);
  if (r.kvDir) {
    out.push(
      `**Diagnostic run: the connector's KV file is in \`${r.kvDir}\`** (\`--kv-dir\`), not on ` +
        "the disk: these figures are not comparable with a normal run.\n",
    );
  }
  out.push(
    "Systems: **hull-browser** = `main.ts` (socket.io 4 on node:http in Deno, Deno KV store, " +
      "event log on stdout); **node** = `bench/baselines/node_socketio.mjs` (Node.js + socket.io " +
      "4, profiles in a Map, a room per identifier, HMAC check); **raw** = " +
      "`bench/baselines/raw_deno_ws.ts` (Deno.serve + Deno.upgradeWebSocket, JSON frames). All " +
      `driven by the same ${"load generator"} (\`bench/load.ts\`, 4 processes). One process may ` +
      "hold at most 20,000 descriptors on this machine, so the largest hold is 19,500 sockets, " +
      "not 20,000.\n",
  );
  const sys = r.systems ?? {};
  const row = (label: string, get: (s: any) => unknown, d = 1, lowerBetter = true) => {
    const v = SYS.map((s) => (sys[s] ? get(sys[s]) : undefined));
    void lowerBetter;
    return `| ${label} | ${v.map((x) => f(x, d)).join(" | ")} | ${ratio(v[0], v[1])} | ${
      ratio(v[0], v[2])
    } |`;
  };
  const head =
    "| figure | hull-browser | node socket.io | raw Deno WS | hull/node | hull/raw |\n|---|--:|--:|--:|--:|--:|";

  out.push("## 1. Hold: N identified visitors\n");
  out.push(
    "Each client connects, sends `user.fetch` and waits for `room.joined`. Rate = identified " +
      "sockets / wall time of that step (clients opened 200 at a time per process); RSS per " +
      "socket = (server RSS at N, read 3 s after the last socket identified − RSS before any " +
      "client) / N; idle CPU = server utime+stime " +
      "from /proc/<pid>/stat while the N sockets sit idle (% of one core).\n",
  );
  out.push(head);
  const ns: number[] = (sys.connector ?? sys.node ?? sys.raw)?.hold?.map((h: any) => h.n) ?? [];
  for (const n of ns) {
    const h = (s: any) => s.hold?.find((x: any) => x.n === n);
    out.push(row(`N=${n.toLocaleString("en-US")}: identified`, (s) => h(s)?.identified, 0));
    out.push(
      row(`N=${n.toLocaleString("en-US")}: connect+identify /s`, (s) => h(s)?.ratePerSec, 0),
    );
    out.push(row(`N=${n.toLocaleString("en-US")}: server RSS MB`, (s) => h(s)?.rssMB, 0));
    out.push(row(`N=${n.toLocaleString("en-US")}: KB per socket`, (s) => h(s)?.kbPerSocket, 1));
    out.push(row(`N=${n.toLocaleString("en-US")}: idle CPU %`, (s) => h(s)?.idleCpuPct, 1));
  }
  out.push("");

  out.push("## 2. Push: signed 100-user batches, back to back and 4 in flight\n");
  out.push(
    "Batches of 100 users (the `user-update-batch-100.json` fixture, one connected visitor per " +
      "user) are signed and posted either back to back (the next once the previous is " +
      "answered) or with 4 batches in flight at once (as Hull's smart-notifier sends: each of 4 " +
      "senders posts its next batch once its previous one is answered). Each user carries " +
      "`bench_sent` (send time); clients timestamp receipt, so latency = page receipt − webhook " +
      "send. Pushes/s = updates received by pages / (last receipt − first send). Each run first " +
      `gets ${r.params.warmupSeconds ?? 0} s of the same batches, not measured (JIT, first ` +
      "writes, the garbage of the connection storm). Server CPU per batch = utime+stime of the " +
      "server process (every thread: JS, GC helpers, the KV writer) over all batches posted.\n",
  );
  out.push(head);
  const runs: { visitors: number; inFlight: number }[] =
    (sys.connector ?? sys.node ?? sys.raw)?.push ?? [];
  for (const { visitors: v, inFlight } of runs) {
    const n = inFlight ?? 1;
    const p = (s: any) => s.push?.find((x: any) => x.visitors === v && (x.inFlight ?? 1) === n);
    const k = `${v.toLocaleString("en-US")} visitors, ${
      n === 1 ? "back to back" : `${n} in flight`
    }`;
    out.push(row(`${k}: batches posted`, (s) => p(s)?.batches, 0));
    out.push(
      row(
        `${k}: updates received / expected %`,
        (s) => p(s) && 100 * p(s).delivered / p(s).expected,
        1,
      ),
    );
    out.push(row(`${k}: webhook→page p50 ms`, (s) => p(s)?.p50, 1));
    out.push(row(`${k}: webhook→page p95 ms`, (s) => p(s)?.p95, 1));
    out.push(row(`${k}: webhook→page p99 ms`, (s) => p(s)?.p99, 1));
    out.push(row(`${k}: pushes/s sustained`, (s) => p(s)?.pushesPerSec, 0));
    out.push(row(`${k}: webhook answer p50 ms`, (s) => p(s)?.answerP50, 1));
    out.push(row(`${k}: webhook answer p99 ms`, (s) => p(s)?.answerP99, 1));
    out.push(row(`${k}: server CPU ms per batch`, (s) => p(s)?.cpuMsPerBatch, 2));
  }
  out.push("");

  out.push("## 3. Identify: visitors whose profile is already known\n");
  out.push(
    "New sockets for visitors pushed in scenario 2, while the hold's sockets stay connected: " +
      "time from sending `user.fetch` to the first `user.update` (the baselines answer from " +
      "their Map). **Burst**: 10 new sockets at a time per load process (40 at once), which " +
      "keeps every server's main thread busy; **one at a time**: one per load process (4 at " +
      "once). Server CPU = utime+stime of the server process over the run ÷ identifies.\n",
  );
  out.push(head);
  for (const [label, key] of [["burst", "identify"], ["one at a time", "identifyCalm"]]) {
    const id = (s: any) => s[key];
    out.push(row(`${label}: sockets measured`, (s) => id(s)?.count, 0));
    out.push(row(`${label}: identify→first update p50 ms`, (s) => id(s)?.p50, 2));
    out.push(row(`${label}: identify→first update p99 ms`, (s) => id(s)?.p99, 2));
    out.push(row(`${label}: identifies/s`, (s) => id(s)?.perSec, 0, false));
    out.push(row(`${label}: server CPU ms per identify`, (s) => id(s)?.cpuMsPerIdentify, 2));
  }
  out.push("");

  out.push("## 4. Cross-instance: visitors on instance A, webhooks to A or to B\n");
  out.push(
    "Two connector instances; all visitors on A. The same batches are posted to A (local) and " +
      "then to B (the push crosses instances). **Deno KV**: two Web Worker isolates in one " +
      "process on one KV file (`bench/kv_cluster.ts`, reusing `bench/harness/cluster_worker.ts`; " +
      "`kv.watch` does not cross processes). **Redis**: two `main.ts` processes with " +
      "`REDIS_URL` (store and socket.io Redis streams adapter). Added = remote p50 − local p50.\n",
  );
  out.push("| figure | over Deno KV | over Redis |\n|---|--:|--:|");
  const c = r.cross ?? {};
  const cr = (label: string, get: (x: any) => unknown, d = 1) =>
    `| ${label} | ${f(c.kv && !c.kv.error ? get(c.kv) : undefined, d)} | ${
      f(c.redis && !c.redis.error ? get(c.redis) : undefined, d)
    } |`;
  out.push(cr("visitors on A", (x) => x.visitors, 0));
  out.push(cr("local (webhook to A) p50 ms", (x) => x.local.p50));
  out.push(cr("local p99 ms", (x) => x.local.p99));
  out.push(cr("remote (webhook to B) p50 ms", (x) => x.remote.p50));
  out.push(cr("remote p95 ms", (x) => x.remote.p95));
  out.push(cr("remote p99 ms", (x) => x.remote.p99));
  out.push(cr("**added by crossing, p50 ms**", (x) => x.addedP50));
  out.push(
    cr("remote updates received / expected %", (x) => 100 * x.remote.delivered / x.remote.expected),
  );
  out.push(cr("remote pushes/s", (x) => x.remote.pushesPerSec, 0));
  for (const k of ["kv", "redis"]) if (c[k]?.error) out.push(`\n${k}: error: ${c[k].error}`);
  out.push("");

  out.push("## 5. Snippet\n");
  const s = r.snippet;
  if (s && !s.error) {
    out.push("| figure | hull-browser |\n|---|--:|");
    out.push(`| static/build/hull-browser.js raw | ${f(s.raw / 1024)} KB |`);
    out.push(`| gzipped | ${f(s.gzip / 1024)} KB |`);
    out.push(
      `| Chromium: script tag → first user.update, known visitor, median of ${s.ms.length} | ${
        f(s.median)
      } ms |`,
    );
    out.push(
      "\nMeasured in headless Chromium (a fresh context per run: no cache, no localStorage " +
        "replay) from the page script just before the async `<script>` tag to the first " +
        "`user.update` callback. The baselines have no snippet.",
    );
  } else out.push(`error: ${s?.error ?? "not run"}`);
  out.push("");

  out.push(renderParts(r));

  out.push("## Earlier targets (issue 6)\n");
  const big = sys.connector?.hold?.[sys.connector.hold.length - 1];
  const nodeBig = sys.node?.hold?.find((h: any) => h.n === big?.n);
  const b2b = (x: any) => x?.push?.filter((p: any) => (p.inFlight ?? 1) === 1) ?? [];
  const bigPush = b2b(sys.connector).at(-1);
  const p10 = (x: any) => b2b(x).find((p: any) => p.visitors === 10_000) ?? b2b(x)[0];
  const ok = (b: boolean | undefined) => b === undefined ? "–" : b ? "met" : "**not met**";
  out.push("| target | measured | |\n|---|---|---|");
  if (big && nodeBig) {
    out.push(
      `| memory per identified socket ≤ node socket.io | ${f(big.kbPerSocket)} KB vs ${
        f(nodeBig.kbPerSocket)
      } KB at N=${big.n} | ${ok(big.kbPerSocket <= nodeBig.kbPerSocket)} |`,
    );
  }
  if (bigPush) {
    out.push(
      `| ~20k visitors, p99 webhook→page < 50 ms (100-user batch) | p99 ${f(bigPush.p99)} ms at ${
        bigPush.visitors.toLocaleString("en-US")
      } visitors | ${ok(bigPush.p99 < 50 && bigPush.visitors >= 19_000)} |`,
    );
  }
  const pc = p10(sys.connector), pr = p10(sys.raw);
  if (pc && pr) {
    out.push(
      `| push throughput ≥ 0.5× raw Deno WS | ${f(pc.pushesPerSec, 0)} vs ${
        f(pr.pushesPerSec, 0)
      } pushes/s (${ratio(pc.pushesPerSec, pr.pushesPerSec)}) | ${
        ok(pc.pushesPerSec >= 0.5 * pr.pushesPerSec)
      } |`,
    );
  }
  if (c.kv && !c.kv.error) {
    out.push(
      `| cross-instance over KV adds ≤ 20 ms at p50 | +${f(c.kv.addedP50)} ms | ${
        ok(c.kv.addedP50 <= 20)
      } |`,
    );
  }
  if (s && !s.error) {
    out.push(`| snippet ≤ 20 KB gzipped | ${f(s.gzip / 1024)} KB | ${ok(s.gzip <= 20 * 1024)} |`);
  }
  out.push("");
  out.push(renderTargets(r));
  return out.join("\n");
}
