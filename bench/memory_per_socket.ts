/**
 * Where does an identified socket's memory go? Starts the connector (`main.ts`, its own process,
 * Deno KV file in a temp dir, the benchmark's environment) with `--inspect`, opens N identified
 * websocket sockets from the benchmark's load processes (`bench/load.ts`, `sio` mode, as
 * `deno task bench` does), then reports per socket:
 * - RSS as the bench reads it (1 s after the last socket, no GC) and after two forced full GCs
 *   (Chrome DevTools protocol through the inspector, no code in the server);
 * - the JS heap in use after GC, and so what lies outside the JS heap (RSS − heap);
 * - with `--snapshot`, a heap snapshot at idle and at N: the objects new at N and still alive,
 *   grouped by constructor (self size per socket), and each group's owner: the nearest per-socket
 *   object (socket.io Socket/Client, engine.io Socket, the websocket wrapper…) on its first
 *   retainer path.
 *
 *   deno run -A bench/memory_per_socket.ts [N=5000] [--engine=native|ws] [--snapshot] [--top=25]
 *     [--v8=<flags>] (more V8 flags for the connector, comma-separated: heap-sizing experiments)
 */
import { CONNECTOR_ENV, DENO, ROOT, sleep } from "./params.ts";
import { loadsFor, openTo, rssMB, spawnServer } from "./procs.ts";
import { connectInspector, snapshotFields } from "./cdp.ts";

const N = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 5000);
const ENGINE = Deno.args.find((a) => a.startsWith("--engine="))?.slice(9) ?? "native";
const SNAPSHOT = Deno.args.includes("--snapshot");
const TOP = Number(Deno.args.find((a) => a.startsWith("--top="))?.slice(6) ?? 25);
/**
 * The inspector only for snapshots: with it attached, Deno tracks every WebSocket for the
 * Network domain, which is then measured too. GCs go through bench/gc_hook.ts instead.
 */
const INSPECT = SNAPSHOT;
/** `--idle=<s>`: also read RSS after that many idle seconds (does V8's memory reducer run?). */
const IDLE = Number(Deno.args.find((a) => a.startsWith("--idle="))?.slice(7) ?? 0);
const V8_FLAGS = Deno.args.find((a) => a.startsWith("--v8="))?.slice(5);

const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 }), inspectPort = probe.addr.port;
probe.close();
const dir = await Deno.makeTempDir({ prefix: "hb-mem-" });
const server = await spawnServer(
  DENO,
  [
    "run",
    "-A",
    ...(INSPECT ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
    `--v8-flags=--expose-gc${V8_FLAGS ? `,${V8_FLAGS}` : ""}`,
    `--preload=${new URL("gc_hook.ts", import.meta.url).pathname}`,
    new URL("main.ts", ROOT).pathname,
  ],
  { ...CONNECTOR_ENV, KV_PATH: `${dir}/kv.sqlite`, WS_ENGINE: ENGINE },
);

// ---------------------------------------------------------------- inspector (CDP)

const inspector = INSPECT ? await connectInspector(inspectPort) : null;

/** RSS (MB) without GC, then after two full GCs (bench/gc_hook.ts) with the JS heap in use. */
async function measure() {
  const raw = await rssMB(server.pid);
  const mark = server.tail().lastIndexOf("gc-hook ");
  Deno.kill(server.pid, "SIGUSR2");
  let heap = NaN, heapTotal = NaN, before = { used: NaN, total: NaN };
  for (let i = 0; i < 50 && Number.isNaN(heap); i++) {
    await sleep(100);
    const tail = server.tail();
    const at = tail.lastIndexOf("gc-hook ");
    if (at > mark || (at >= 0 && mark < 0)) {
      const [, used, total] = tail.slice(at).match(/heapUsed=(\d+) heapTotal=(\d+)/) ?? [];
      heap = Number(used) / 2 ** 20, heapTotal = Number(total) / 2 ** 20;
      const [, u, t] = tail.slice(0, at).match(/.*heapUsed=(\d+) heapTotal=(\d+)/s) ?? [];
      before = { used: Number(u) / 2 ** 20, total: Number(t) / 2 ** 20 };
    }
  }
  await sleep(300);
  return { raw, rss: await rssMB(server.pid), heap, heapTotal, before };
}

// ---------------------------------------------------------------- heap snapshot

interface Snap {
  N: number;
  name: string[];
  type: string[];
  id: Float64Array;
  size: Float64Array;
  parent: Int32Array;
  via: string[];
}

async function snapshot(): Promise<Snap> {
  const snap = await inspector!.heapSnapshot();
  const {
    nf,
    ef,
    nType,
    nName,
    nId,
    nSize,
    nEdges,
    eType,
    eName,
    eTo,
    nodeTypes,
    edgeTypes,
    nodes,
    edges,
    strings,
  } = snapshotFields(snap);
  const count = nodes.length / nf.length;
  const out: Snap = {
    N: count,
    name: new Array(count),
    type: new Array(count),
    id: new Float64Array(count),
    size: new Float64Array(count),
    parent: new Int32Array(count).fill(-1),
    via: new Array(count),
  };
  // First retainer by breadth-first order from the root, weak edges aside: the shortest path,
  // what DevTools shows first.
  const first = new Int32Array(count);
  for (let n = 0, e = 0; n < count; n++) {
    const base = n * nf.length;
    out.type[n] = nodeTypes[nodes[base + nType]];
    out.name[n] = strings[nodes[base + nName]];
    out.id[n] = nodes[base + nId];
    out.size[n] = nodes[base + nSize];
    first[n] = e;
    e += nodes[base + nEdges] * ef.length;
  }
  const seen = new Uint8Array(count);
  const queue = new Int32Array(count);
  let head = 0, tail = 0;
  queue[tail++] = 0, seen[0] = 1;
  while (head < tail) {
    const n = queue[head++];
    const end = first[n] + nodes[n * nf.length + nEdges] * ef.length;
    for (let e = first[n]; e < end; e += ef.length) {
      const type = edgeTypes[edges[e + eType]];
      if (type === "weak" || type === "shortcut") continue;
      const to = edges[e + eTo] / nf.length;
      if (seen[to]) continue;
      seen[to] = 1, queue[tail++] = to;
      out.parent[to] = n;
      const name = type === "element" || type === "hidden" ? "" : strings[edges[e + eName]];
      out.via[to] = /^\d*$/.test(String(name)) ? "[]" : `.${name}`;
    }
  }
  return out;
}

/** A node's label: constructor name for objects, "(type)" otherwise. */
function label(s: Snap, n: number): string {
  const type = s.type[n];
  if (type === "object") return s.name[n].replace(/ @\d+/, "").slice(0, 40) || "Object";
  if (type === "closure") return `fn ${s.name[n].slice(0, 30) || "(anonymous)"}`;
  if (type === "hidden" || type === "native") return `(${type}) ${s.name[n].slice(0, 30)}`;
  return `(${type})`;
}

/** The per-socket owners a new object is attributed to (nearest on its first retainer path). */
const OWNERS = new Set([
  "Socket", // socket.io's and engine.io's (told apart by the retainer edge below)
  "Client",
  "WebSocket",
  "NativeWebSocket",
  "IncomingMessage",
  "ServerResponse",
  "Namespace",
  "Adapter",
  "KvAdapter",
]);

function owner(s: Snap, n: number): string {
  for (let p = s.parent[n], via = s.via[n], up = 0; p !== -1 && up < 12; up++) {
    const name = s.type[p] === "object" ? s.name[p] : "";
    if (OWNERS.has(name)) return `${name} (via ${via})`;
    via = s.via[p];
    p = s.parent[p];
  }
  return "(other)";
}

function survivorsTable(before: Snap, after: Snap, perSocket: number) {
  const old = new Set<number>();
  for (let n = 0; n < before.N; n++) old.add(before.id[n]);
  const byCtor = new Map<string, { count: number; size: number; owners: Map<string, number> }>();
  let total = 0;
  for (let n = 0; n < after.N; n++) {
    if (old.has(after.id[n]) || after.parent[n] === -1 && n !== 0) continue;
    const key = label(after, n);
    const g = byCtor.get(key) ??
      byCtor.set(key, { count: 0, size: 0, owners: new Map() }).get(key)!;
    g.count++, g.size += after.size[n], total += after.size[n];
    const o = owner(after, n);
    g.owners.set(o, (g.owners.get(o) ?? 0) + after.size[n]);
  }
  const byOwner = new Map<string, number>();
  for (const g of byCtor.values()) {
    for (const [o, b] of g.owners) byOwner.set(o, (byOwner.get(o) ?? 0) + b);
  }
  console.log("\nBy owner (nearest per-socket object on the first retainer path):\n");
  console.log("| owner (via edge) | B/socket |\n|---|--:|");
  for (const [o, b] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`| ${o.replaceAll("|", "\\|")} | ${(b / perSocket).toFixed(0)} |`);
  }
  const rows = [...byCtor].sort((a, b) => b[1].size - a[1].size).slice(0, TOP);
  console.log(
    `\nNew objects alive at N (self size): ${(total / perSocket).toFixed(0)} B/socket in all\n`,
  );
  console.log("| constructor / type | per socket | B/socket | main owners (B/socket) |");
  console.log("|---|--:|--:|---|");
  for (const [key, g] of rows) {
    const owners = [...g.owners].sort((a, b) => b[1] - a[1]).slice(0, 2)
      .map(([o, b]) => `${o} ${(b / perSocket).toFixed(0)}`).join("; ");
    console.log(
      `| ${key.replaceAll("|", "\\|")} | ${(g.count / perSocket).toFixed(2)} | ` +
        `${(g.size / perSocket).toFixed(0)} | ${owners.replaceAll("|", "\\|")} |`,
    );
  }
}

// ---------------------------------------------------------------- run

try {
  await sleep(1_000);
  const idle = await measure();
  const idleSnap = SNAPSHOT ? await snapshot() : null;
  const loads = loadsFor(server.url, "sio");
  try {
    const r = await openTo(loads, N);
    await sleep(1_000);
    const raw1 = await rssMB(server.pid);
    await sleep(IDLE * 1000);
    const at = await measure();
    const later = at.raw;
    at.raw = raw1;
    const kb = (mb: number) => (mb * 1024 / N).toFixed(1);
    console.log(`\n### ${N} identified websocket sockets, WS_ENGINE=${ENGINE}\n`);
    console.log(`identified ${r.identified}, failed ${r.failed}, ${r.seconds.toFixed(1)} s\n`);
    console.log("| | idle MB | at N MB | KB/socket |\n|---|--:|--:|--:|");
    console.log(
      `| RSS, no GC (bench) | ${idle.raw.toFixed(0)} | ${at.raw.toFixed(0)} | ${
        kb(at.raw - idle.raw)
      } |`,
    );
    if (IDLE) {
      console.log(
        `| RSS, no GC, ${IDLE} s later | | ${later.toFixed(0)} | ${kb(later - idle.raw)} |`,
      );
    }
    const b = (m: typeof at) => `${m.before.used.toFixed(1)} / ${m.before.total.toFixed(1)}`;
    console.log(
      `| JS heap used / total, no GC | ${b(idle)} | ${b(at)} | ${
        kb(at.before.used - idle.before.used)
      } / ${kb(at.before.total - idle.before.total)} |`,
    );
    console.log(
      `| RSS after GC | ${idle.rss.toFixed(0)} | ${at.rss.toFixed(0)} | ${kb(at.rss - idle.rss)} |`,
    );
    console.log(
      `| JS heap after GC | ${idle.heap.toFixed(1)} | ${at.heap.toFixed(1)} | ${
        kb(at.heap - idle.heap)
      } |`,
    );
    console.log(
      `| RSS − JS heap (after GC) | | | ${kb(at.rss - idle.rss - (at.heap - idle.heap))} |`,
    );
    if (idleSnap) survivorsTable(idleSnap, await snapshot(), N);
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
  }
} finally {
  inspector?.close();
  await server.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
