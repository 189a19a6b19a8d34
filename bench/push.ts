/**
 * The Push scenario of `bench/main.ts`: signed 100-user batches posted to a system, either back
 * to back (the next once the previous is answered) or with several batches in flight at once
 * (Hull's smart-notifier sends concurrently), and the figures taken from the pages' receipts.
 */
import { signHmac } from "../lib/webhook/signature.ts";

/** Webhook secret every system under test verifies. */
export const SECRET = "bench-webhook-secret-0123456789";
const ROOT = new URL("../", import.meta.url);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `p`th percentile of ascending `sorted`, NaN when empty. */
export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("tests/fixtures/hull/user-update-batch-100.json", ROOT)),
);
const templates: Record<string, unknown>[] = fixture.messages;

/** A signed 100-user batch for visitors (b*100 + j) % visitors, stamped with the send time. */
export async function postBatch(url: string, b: number, visitors: number): Promise<number> {
  const sent = now();
  const messages = templates.map((m, j) => {
    const i = (b * 100 + j) % visitors;
    const user = m.user as Record<string, unknown>;
    return {
      ...m,
      user: {
        ...user,
        id: `bench-user-${i}`,
        email: `visitor${i}@example.com`,
        external_id: `bench-ext-${i}`,
        anonymous_ids: [`bench-anon-${i}`],
        name: `Visitor ${i}`,
        bench_sent: sent,
      },
    };
  });
  const raw = JSON.stringify({ ...fixture, notification_id: crypto.randomUUID(), messages });
  const res = await fetch(`${url}/smart-notifier`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hull-browser-signature": await signHmac(SECRET, raw),
    },
    body: raw,
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  return now() - sent;
}

export interface PushFigures {
  visitors: number;
  /** Batches posted at once (1 = back to back). */
  inFlight: number;
  batches: number;
  expected: number;
  delivered: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  pushesPerSec: number;
  answerP50: number;
  answerP99: number;
  /** The batch number after the last one posted (where a following run may start). */
  endBatch: number;
}

/** Receipts (latencies, ms) and the last receipt time collected from the load generators. */
export type Collect = () => Promise<{ lat: number[]; last: number }>;

export interface PushOptions {
  visitors: number;
  seconds: number;
  /** First batch number (which visitors get the first batch). */
  first?: number;
  /** Batches in flight at once (default 1: back to back). */
  inFlight?: number;
  /** Not measured, the same for every system: JIT, first writes, connection-storm garbage. */
  warmupSeconds?: number;
  /** Called just before the measured batches are posted, and once the last one is answered. */
  onMeasured?: (phase: "start" | "end") => Promise<void> | void;
}

/** Keeps `inFlight` posts going for `seconds`; returns the batches posted and answer times. */
async function postFor(
  url: string,
  o: Required<PushOptions>,
  seconds: number,
  nextBatch: () => number,
) {
  const answers: number[] = [];
  let batches = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: o.inFlight }, async () => {
    while (performance.now() < end) {
      const b = nextBatch();
      batches++;
      answers.push(await postBatch(url, b, o.visitors));
    }
  }));
  return { answers, batches };
}

/** Posts batches to `postUrl` for `seconds`; receipts come from `collect`. */
export async function push(
  postUrl: string,
  collect: Collect,
  opts: PushOptions,
): Promise<PushFigures> {
  const o: Required<PushOptions> = {
    first: 0,
    inFlight: 1,
    warmupSeconds: 0,
    onMeasured: () => {},
    ...opts,
  };
  let b = o.first;
  const nextBatch = () => b++;
  if (o.warmupSeconds > 0) await postFor(postUrl, o, o.warmupSeconds, nextBatch);
  await sleep(300);
  await collect();
  await o.onMeasured("start");
  const t0 = now();
  const { answers, batches } = await postFor(postUrl, o, o.seconds, nextBatch);
  await o.onMeasured("end");
  await sleep(1_500); // the last pushes land
  const { lat, last } = await collect();
  lat.sort((x, y) => x - y);
  answers.sort((x, y) => x - y);
  return {
    visitors: o.visitors,
    inFlight: o.inFlight,
    batches,
    expected: batches * 100,
    delivered: lat.length,
    p50: pct(lat, 50),
    p95: pct(lat, 95),
    p99: pct(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
    pushesPerSec: lat.length / Math.max(0.001, (last - t0) / 1000),
    answerP50: pct(answers, 50),
    answerP99: pct(answers, 99),
    endBatch: b,
  };
}
