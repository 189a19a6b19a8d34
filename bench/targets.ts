/**
 * The targets table that ends bench/results.md (issue 11): the connector's figures as ratios
 * to the Node.js socket.io baseline measured in the same run. A quick run has fewer visitors,
 * so each row names the visitor count it was computed at.
 */
// deno-lint-ignore-file no-explicit-any

const num = (v: unknown, d = 1) =>
  typeof v === "number" && Number.isFinite(v)
    ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";
const finite = (...v: unknown[]) => v.every((x) => typeof x === "number" && Number.isFinite(x));
const verdict = (ok: boolean | undefined) => ok === undefined ? "–" : ok ? "met" : "**not met**";
const k = (n: number) => n.toLocaleString("en-US");

/** One row: target, connector, node, ratio, verdict. */
function row(target: string, hull: string, node: string, ratio: number, ok?: boolean): string {
  const r = Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "–";
  return `| ${target} | ${hull} | ${node} | ${r} | ${verdict(ok)} |`;
}

/** Markdown of the targets table for `r` (bench/results.json). */
export function renderTargets(r: any): string {
  const hull = r.systems?.connector;
  const node = r.systems?.node;
  const out: string[] = [];
  out.push("## Targets (issue 11: at least as fast as Node.js socket.io on the same work)\n");
  out.push(
    `Computed from this ${r.mode} run only; ratios are hull-browser ÷ Node.js socket.io ` +
      "(pushes/s: higher is better, target ≥ 1.00×; latencies and memory: lower is better).\n",
  );
  out.push("| target | hull-browser | node socket.io | ratio | |\n|---|--:|--:|--:|---|");
  const runs = (s: any, v: number, n: number) =>
    s?.push?.find((p: any) => p.visitors === v && (p.inFlight ?? 1) === n);
  const pushes: { visitors: number; inFlight: number }[] = hull?.push ?? [];
  for (const { visitors, inFlight = 1 } of pushes) {
    const h = runs(hull, visitors, inFlight), nd = runs(node, visitors, inFlight);
    const delivered = h ? 100 * h.delivered / h.expected : NaN;
    const ratio = h && nd ? h.pushesPerSec / nd.pushesPerSec : NaN;
    const how = inFlight === 1 ? "back to back" : `${inFlight} in flight`;
    out.push(row(
      `pushes/s ≥ 1.0× node, ${how}, ${k(visitors)} visitors, 100 % delivered`,
      h ? `${num(h.pushesPerSec, 0)} (${num(delivered, 1)} % delivered)` : "–",
      nd ? `${num(nd.pushesPerSec, 0)} (${num(100 * nd.delivered / nd.expected, 1)} %)` : "–",
      ratio,
      finite(ratio) ? ratio >= 1 && delivered === 100 : undefined,
    ));
  }
  // The largest back-to-back run: the 19,500-visitor point of a full run.
  const b2b = pushes.filter((p) => (p.inFlight ?? 1) === 1).at(-1);
  if (b2b) {
    const h = runs(hull, b2b.visitors, 1), nd = runs(node, b2b.visitors, 1);
    const ratio = h && nd ? h.p99 / nd.p99 : NaN;
    out.push(row(
      `webhook→page p99 ≤ 1.0× node (${k(b2b.visitors)} visitors, back to back)`,
      h ? `${num(h.p99)} ms` : "–",
      nd ? `${num(nd.p99)} ms` : "–",
      ratio,
      finite(ratio) ? ratio <= 1 : undefined,
    ));
  }
  const hold = hull?.hold?.at(-1);
  const nodeHold = node?.hold?.find((h: any) => h.n === hold?.n);
  if (hold) {
    const ratio = nodeHold ? hold.kbPerSocket / nodeHold.kbPerSocket : NaN;
    out.push(row(
      `RSS per identified socket ≤ 1.0× node (${k(hold.n)} sockets)`,
      `${num(hold.kbPerSocket)} KB`,
      nodeHold ? `${num(nodeHold.kbPerSocket)} KB` : "–",
      ratio,
      finite(ratio) ? ratio <= 1 : undefined,
    ));
  }
  if (hull?.identify) {
    const ratio = node?.identify ? hull.identify.p50 / node.identify.p50 : NaN;
    out.push(row(
      `identify→first update p50 ≤ 2× node (${k(hull.identify.count)} known visitors)`,
      `${num(hull.identify.p50, 2)} ms`,
      node?.identify ? `${num(node.identify.p50, 2)} ms` : "–",
      ratio,
      finite(ratio) ? ratio <= 2 : undefined,
    ));
  }
  if (hull?.identifyCalm) {
    // For reference, not a target: the same visitors one at a time per load process, where
    // no server is saturated (see scenario 3).
    const h = hull.identifyCalm, nd = node?.identifyCalm;
    out.push(row(
      `(reference) identify→first update p50, one at a time (${k(h.concurrency)} at once)`,
      `${num(h.p50, 2)} ms`,
      nd ? `${num(nd.p50, 2)} ms` : "–",
      nd ? h.p50 / nd.p50 : NaN,
    ));
  }
  const kv = r.cross?.kv;
  const added = kv && !kv.error ? kv.addedP50 : NaN;
  out.push(
    `| cross-instance over Deno KV adds ≤ 10 ms at p50 | ${
      finite(added) ? `+${num(added)} ms` : "–"
    } | – | – | ${verdict(finite(added) ? added <= 10 : undefined)} |`,
  );
  out.push("");
  return out.join("\n");
}
