import assert from "node:assert/strict";
import { Metrics, quantile } from "../../lib/metrics.ts";

Deno.test("metrics - keeps the newest 5,000 latency samples of the window, oldest first", () => {
  const m = new Metrics();
  const now = Date.now();
  m.latency(999, now - 10 * 60_000); // older than the 5-minute window
  for (let i = 0; i < 6_000; i++) m.latency(i, now);
  const l = m.latencies();
  assert.equal(l.length, 5_000);
  assert.equal(l[0], 1_000);
  assert.equal(l.at(-1), 5_999);
  assert.equal(quantile(l, 0.5), 3_500);
});

Deno.test("metrics - samples older than the window are left out", () => {
  const m = new Metrics();
  const now = Date.now();
  m.latency(1, now - 6 * 60_000);
  m.latency(2, now);
  assert.deepEqual(m.latencies(), [2]);
});

Deno.test("metrics - one record per batch counts once per push, newest 5,000 pushes kept", () => {
  const m = new Metrics();
  const now = Date.now();
  m.latency(3, now, 4_990);
  m.latency(5, now, 100);
  m.latency(7, now, 3);
  const l = m.latencies();
  assert.equal(l.length, 5_000);
  assert.equal(l.filter((v) => v === 7).length, 3);
  assert.equal(l.filter((v) => v === 5).length, 100);
  assert.equal(l.filter((v) => v === 3).length, 4_897);
  assert.equal(l.at(-1), 7);
  assert.equal(l[0], 3);
});
