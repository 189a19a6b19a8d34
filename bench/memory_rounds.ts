/**
 * Is connect → identify → close a leak? Starts the connector (`main.ts`, its own process, Deno
 * KV store) with `--inspect`, then runs rounds of COUNT socket.io v4 clients (websocket, from a
 * separate load process) that each identify with a distinct email, external_id or
 * anonymous_id, wait for `room.joined`, and close. After each round it waits until `/healthz`
 * reports 0 connections, forces a GC through the inspector (Chrome DevTools protocol, no code
 * in the server) and records RSS (/proc/<pid>/status) and the JS heap in use. With
 * `--snapshots` it also takes heap snapshots after round 1 and the last round and prints the
 * objects allocated after round 1 and still alive after the last, grouped by retainer path.
 * `--polling` makes the clients start on HTTP long-polling and upgrade (the client's default);
 * `--no-gc` forces a GC only after the last round, as a process left alone would see it.
 *
 *   deno run -A bench/memory_rounds.ts [rounds=4] [count=2000] [--snapshots] [--polling] [--no-gc]
 *
 * The load process is this file again: `memory_rounds.ts --load <url> <round> <count> [...]`.
 */
import { io, type Socket } from "socket.io-client";
import { bootMain } from "./harness/process.ts";
import { connectInspector, snapshotFields } from "./cdp.ts";

const ORIGIN = "http://localhost:3000";

if (Deno.args[0] === "--load") {
  const [, url, round, countArg] = Deno.args;
  const count = Number(countArg);
  const sockets: Socket[] = [];
  let joined = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const kind = (["email", "external_id", "anonymous_id"] as const)[i % 3];
      const value = kind === "email" ? `r${round}-${i}@example.com` : `r${round}-${i}`;
      const s = io(url, {
        transports: Deno.args.includes("--polling") ? ["polling", "websocket"] : ["websocket"],
        reconnection: false,
        forceNew: true,
        extraHeaders: { origin: ORIGIN },
      });
      sockets.push(s);
      const timer = setTimeout(resolve, 30_000);
      s.once("connect", () => s.emit("user.fetch", { claims: { [kind]: value } }));
      s.once("room.joined", () => (clearTimeout(timer), joined++, resolve()));
      s.once("connect_error", () => (clearTimeout(timer), resolve()));
    });
  for (let i = 0; i < count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => one(i + j)));
  }
  for (const s of sockets) s.disconnect();
  console.log(JSON.stringify({ joined }));
  await new Promise((r) => setTimeout(r, 500)); // let the close frames go out
  Deno.exit(0);
}

const [ROUNDS = 4, COUNT = 2000] = Deno.args.filter((a) => !a.startsWith("--")).map(Number);
const [SNAPSHOTS, NO_GC] = ["--snapshots", "--no-gc"].map((f) => Deno.args.includes(f));

const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 }), inspectPort = probe.addr.port;
probe.close();
const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
const server = await bootMain({
  KV_PATH: kvPath,
  SECRET: "bench-secret-0123456789abcdef",
  WHITELISTED_DOMAINS: "localhost",
  LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "1000000",
}, ["-A", `--inspect=127.0.0.1:${inspectPort}`]);
// The inspector's banner goes to stderr: drain it so the child never blocks.
server.child.stderr.pipeTo(new WritableStream()).catch(() => {});

const inspector = await connectInspector(inspectPort);
const cdp = inspector.call;

const mb = (bytes: number) => bytes / 1024 / 1024;
const fds = () => [...Deno.readDirSync(`/proc/${server.child.pid}/fd`)].length;
const rss = async (field = "VmRSS") => {
  const status = await Deno.readTextFile(`/proc/${server.child.pid}/status`);
  return Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))![1]) / 1024;
};
/** GC (twice: weak callbacks run in between), then RSS and the JS heap in use, in MB. */
async function measure(gc = true) {
  for (let i = 0; gc && i < 2; i++) {
    await cdp("HeapProfiler.collectGarbage");
    await new Promise((r) => setTimeout(r, 300));
  }
  const heap = await cdp("Runtime.getHeapUsage") as { usedSize: number };
  return `${(await rss()).toFixed(0)} | ${mb(heap.usedSize).toFixed(1)}`;
}

/**
 * Objects of `snap` whose id is not in `before` (allocated since and still alive), grouped by
 * name and retainer path (first strong retainer, two levels up): count and self size.
 */
// deno-lint-ignore no-explicit-any
function newSurvivors(snap: any, before: Set<number>) {
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
  const N = nodes.length / nf.length;
  const parent = new Int32Array(N).fill(-1), via: string[] = new Array(N);
  for (let n = 0, e = 0; n < N; n++) {
    for (let k = 0; k < nodes[n * nf.length + nEdges]; k++, e += ef.length) {
      const type = edgeTypes[edges[e + eType]];
      const to = edges[e + eTo] / nf.length;
      if (type === "weak" || type === "shortcut" || parent[to] !== -1) continue;
      parent[to] = n;
      const name = type === "element" || type === "hidden" ? "" : strings[edges[e + eName]];
      via[to] = /^\d*$/.test(name) ? "[]" : `.${name}`;
    }
  }
  const label = (n: number) => {
    const type = nodeTypes[nodes[n * nf.length + nType]];
    const name = strings[nodes[n * nf.length + nName]].slice(0, 40);
    if (type === "object" || type === "hidden") return name.replace(/ @\d+/, "");
    return type === "closure" ? `fn ${name}` : `(${type})`;
  };
  const groups = new Map<string, { count: number; size: number }>();
  for (let n = 0; n < N; n++) {
    if (before.has(nodes[n * nf.length + nId])) continue;
    let path = label(n);
    for (let p = n, up = 0; up < 2 && parent[p] !== -1; up++, p = parent[p]) {
      path += ` ← ${label(parent[p])}${via[p]}`;
    }
    const g = groups.get(path) ?? groups.set(path, { count: 0, size: 0 }).get(path)!;
    g.count++, g.size += nodes[n * nf.length + nSize];
  }
  return [...groups].sort((a, b) => b[1].size - a[1].size);
}
// deno-lint-ignore no-explicit-any
const idsOf = (snap: any) => {
  const { nf, nId, nodes } = snapshotFields(snap), ids = new Set<number>();
  for (let i = nId; i < nodes.length; i += nf.length) ids.add(nodes[i]);
  return ids;
};

const health = async () => (await (await fetch(`${server.url}/healthz`)).json()).connections;
const rows = [`| idle | – | – | – | ${await measure()} | ${fds()} | – |`];
let ids = new Set<number>(), survivors: ReturnType<typeof newSurvivors> = [];
for (let round = 1; round <= ROUNDS; round++) {
  const self = new URL(import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", self, "--load", server.url, `${round}`, `${COUNT}`, ...Deno.args],
    stderr: "inherit",
  }).output();
  const result = JSON.parse(new TextDecoder().decode(out.stdout).trim());
  let left = await health();
  for (const end = Date.now() + 60_000; left > 0 && Date.now() < end; left = await health()) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const peak = (await rss("VmHWM")).toFixed(0), before = await measure(false);
  const after = NO_GC && round < ROUNDS ? "– | –" : await measure();
  const sockets = `${result.joined}/${COUNT} joined, ${left} left`;
  rows.push(`| ${round} | ${peak} | ${before} | ${after} | ${fds()} | ${sockets} |`);
  if (SNAPSHOTS && (round === 1 || round === ROUNDS)) {
    const snap = await inspector.heapSnapshot();
    if (round === 1) ids = idsOf(snap);
    else survivors = newSurvivors(snap, ids);
  }
}

const how = Deno.args.includes("--polling") ? "polling → websocket" : "websocket";
console.log(`\n### ${ROUNDS} rounds of ${COUNT} connect → user.fetch → close (${how}, MB)\n`);
console.log("| round | peak RSS | RSS | JS heap | RSS after GC | heap after GC | fds | sockets |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
if (survivors.length) {
  const total = survivors.reduce((a, [, g]) => a + g.size, 0);
  console.log(
    `\nObjects allocated after round 1 and alive after round ${ROUNDS}: ` +
      `${(total / 1024).toFixed(0)} KB self size; largest groups (object ← retainer path):\n`,
  );
  console.log("| object ← retainers | count | self size (KB) |\n|---|---|---|");
  for (const [path, g] of survivors.slice(0, 15)) {
    console.log(`| ${path.replaceAll("|", "\\|")} | ${g.count} | ${(g.size / 1024).toFixed(0)} |`);
  }
}

inspector.close();
server.child.kill("SIGTERM");
await server.child.status;
await Deno.remove(kvPath).catch(() => {});
