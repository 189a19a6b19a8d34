/**
 * Section 6 of bench/results.md: the profiled push runs of bench/cpu_parts.ts, the connector's
 * CPU per batch next to Node.js socket.io's, part by part.
 */
// deno-lint-ignore-file no-explicit-any
import { PART_LABELS } from "./profile_parts.ts";

const f = (v: unknown, d = 2) =>
  typeof v === "number" && Number.isFinite(v)
    ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";

/** Markdown of section 6 for `r` (bench/results.json). */
export function renderParts(r: any): string {
  const out: string[] = [];
  const h = r.parts?.connector, n = r.parts?.node;
  out.push("## 6. Where a batch's CPU goes (profiled)\n");
  if (!h && !n) {
    out.push(
      r.mode === "quick"
        ? "Not in a quick run: `deno task bench --quick --only=parts` runs it alone.\n"
        : "Not run.\n",
    );
    return out.join("\n");
  }
  if (!h || !n || h.error || n.error) {
    out.push(
      `not run${h?.error ? `; connector: ${h.error}` : ""}${
        n?.error ? `; node: ${n.error}` : ""
      }\n`,
    );
    return out.join("\n");
  }
  out.push(
    `The connector and the Node.js baseline once more each, under V8's CPU profiler ` +
      `(\`--cpu-prof\`, 1 ms samples; \`bench/cpu_parts.ts\`): ${
        h.visitors.toLocaleString("en-US")
      } visitors, ${h.inFlight} batches in flight, after one batch for every visitor (updates ` +
      "of known users, Hull's steady traffic). Each sample goes to the part of the work its " +
      "stack is in (`bench/profile_parts.ts`); each part's share of the main thread's busy " +
      "samples is applied to the thread's CPU from /proc (samples are wall time: on two " +
      "shared cores a thread waiting for a core is sampled too). Deno writes WebSocket frames " +
      "in its event loop, outside JavaScript: the profile shows that CPU as idle or runtime, " +
      "not as delivery. Other threads: /proc. " +
      "ms of CPU per 100-user batch; the profiler slows both systems.\n",
  );
  out.push(
    "| CPU per batch, ms | hull-browser | node socket.io | hull − node |\n|---|--:|--:|--:|",
  );
  const row = (label: string, a: number, b: number | undefined) =>
    out.push(`| ${label} | ${f(a)} | ${b === undefined ? "–" : f(b)} | ${f(a - (b ?? 0))} |`);
  for (const [k, label] of Object.entries(PART_LABELS)) {
    const theirs = n.main[k];
    row(
      `main thread: ${label}`,
      h.main[k],
      k === "store" || k === "event log" ? undefined : theirs,
    );
  }
  row("**main thread** (/proc): the isolate holding the sockets", h.mainThread, n.mainThread);
  if (h.workers > 0) {
    row("**webhook workers** (/proc, Deno's `worker-<n>` threads)", h.workers, undefined);
  }
  row(
    "other threads (V8's GC and compiler helpers, I/O, KV's writer)",
    h.otherThreads,
    n.otherThreads,
  );
  const total = (x: any) => x.mainThread + (x.workers ?? 0) + x.otherThreads;
  row("**process**", total(h), total(n));
  if (h.machine !== undefined && n.machine !== undefined) {
    row(
      "the whole machine: server, load generators, harness (profiler left out)",
      h.machine,
      n.machine,
    );
  }
  out.push(
    `| pushes/s in this run (delivered ${f(100 * h.delivered / h.expected, 1)} % / ${
      f(100 * n.delivered / n.expected, 1)
    } %) | ${f(h.pushesPerSec, 0)} | ${f(n.pushesPerSec, 0)} | ${
      f(h.pushesPerSec / n.pushesPerSec)
    }× |`,
  );
  const threads = Object.entries(h.threads as Record<string, number>)
    .sort((a, b) => b[1] - a[1]).filter(([, ms]) => ms >= 0.05)
    .map(([name, ms]) => `\`${name}\` ${f(ms)}`).join(", ");
  out.push(`\nThe connector's other threads, ms per batch: ${threads || "–"}.`);
  if (h.workerParts) {
    const parts = Object.entries(PART_LABELS)
      .map(([k, label]) => `${label.split(":")[0]} ${f(h.workerParts[k])}`).join(", ");
    out.push(
      `\nThe webhook workers' ${f(h.workers)} ms per batch, by part (their own profiles): ` +
        `${parts}.`,
    );
  }
  // The store and the event log, wherever they run (the main thread, or the workers).
  const extra = h.main.store + h.main["event log"] +
    (h.workerParts ? h.workerParts.store + h.workerParts["event log"] : 0);
  out.push(
    `\nNode.js spends ${f(total(n))} ms of CPU on a batch. The work it does not do at all ` +
      `(the durable store and the event log) takes ${f(extra)} ms of the connector's ` +
      `JavaScript threads; the parts both do take ${
        f(h.mainThread + (h.workers ?? 0) - extra)
      } ms here against ${f(n.mainThread)} ms, and the other threads ${f(h.otherThreads)} ms ` +
      `against ${f(n.otherThreads)} ms.\n`,
  );
  const cores = r.machine?.cores;
  if (cores && h.machine > 0 && n.pushesPerSec > 0) {
    const ceiling = (x: any) => cores * 1000 / x.machine * 100;
    const bound = cores * 1000 * 100 / n.pushesPerSec;
    out.push(
      `Even spread perfectly over the ${cores} cores, at ${f(h.machine)} ms of the machine's ` +
        `CPU per batch the connector could not push more than ${f(ceiling(h), 0)} updates/s ` +
        `here (Node.js: ${f(ceiling(n), 0)} at ${f(n.machine)} ms). Pushing Node's ` +
        `${f(n.pushesPerSec, 0)} updates/s takes a batch that costs the machine at most ` +
        `${f(bound)} ms; the connector's costs ${f(h.machine)} ms, of which the store and the ` +
        `event log take ${f(extra)} ms.\n`,
    );
  }
  return out.join("\n");
}
