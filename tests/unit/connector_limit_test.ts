/** Webhooks in flight per connector (lib/webhook/connector_limit.ts). */
import assert from "node:assert/strict";
import { ConnectorLimit } from "../../lib/webhook/connector_limit.ts";

Deno.test("connector limit - slots per connector, refusals once per burst, idle once all are back", async () => {
  const limit = new ConnectorLimit(2);
  await limit.idle("a"); // nothing in flight: at once
  const one = limit.enter("a");
  const two = limit.enter("a");
  assert.ok(one.ok && two.ok);
  const third = limit.enter("a");
  assert.deepEqual(third, { ok: false, inflight: 2, firstOfBurst: true });
  assert.deepEqual(limit.enter("a"), { ok: false, inflight: 2, firstOfBurst: false });
  assert.ok(limit.enter("b").ok, "another connector has slots of its own");

  let idle = false;
  const waiting = limit.idle("a").then(() => idle = true);
  one.release();
  one.release(); // once only
  assert.equal(limit.inflight("a"), 1);
  await Promise.resolve();
  assert.equal(idle, false, "one still in flight");
  two.release();
  await waiting;
  assert.equal(idle, true);
  assert.equal(limit.inflight("a"), 0);
  const next = limit.enter("a");
  assert.ok(next.ok);
  next.release();
  assert.deepEqual(
    [limit.enter("a"), limit.enter("a"), limit.enter("a")].map((e) => e.ok),
    [true, true, false],
  );
  assert.equal((limit.enter("a") as { firstOfBurst: boolean }).firstOfBurst, false);
});
