/**
 * The connector directory (lib/connector/directory.ts) over a real Deno KV store: registration
 * within the limit, every registered connector open on every instance, removal with its data.
 */
import assert from "node:assert/strict";
import {
  type Connector,
  ConnectorDirectory,
  type ConnectorFactory,
  namespaceOf,
  STANDALONE_ID,
} from "../../lib/connector/directory.ts";
import { EventLog } from "../../lib/events.ts";
import { LiveConfig } from "../../lib/connector/live_config.ts";
import { KvStore } from "../../lib/store/kv_store.ts";
import { profile } from "../helpers/store_fixtures.ts";

const A = "6a00000000000000000000a1";
const B = "6a00000000000000000000b1";

/** A factory with the real parts that need no server; counts what it opened and closed. */
function factory() {
  const log = { opened: [] as string[], closed: [] as string[] };
  const f: ConnectorFactory<null> = {
    async open(id, store): Promise<Connector<null>> {
      log.opened.push(id);
      const live = await LiveConfig.load(store);
      const events = new EventLog(store, { instance: "test", stdout: false });
      return { id, namespace: namespaceOf(id), store, live, events, services: null };
    },
    async close(c) {
      log.closed.push(c.id);
      c.live.stop();
      await c.events.close();
    },
  };
  return { f, log };
}

Deno.test("connector directory - registers up to the limit and keeps each connector apart", async () => {
  const root = await KvStore.open(":memory:");
  const { f, log } = factory();
  const dir = await ConnectorDirectory.create(root, f, { sweepMs: 60_000 });
  try {
    assert.equal(dir.standalone.id, STANDALONE_ID);
    assert.equal(dir.standalone.namespace, "/");
    assert.equal(await dir.get(A), null, "not registered yet");
    const a = await dir.register(A, 2);
    assert.equal(a.result, "added");
    assert.equal(a.connector?.namespace, `/${A}`);
    assert.equal((await dir.register(A, 2)).result, "known");
    assert.equal((await dir.register(B, 2)).result, "added");
    const full = await dir.register("6a00000000000000000000c1", 2);
    assert.deepEqual(full, { result: "full", connector: null });
    assert.deepEqual(await dir.ids(true), [A, B]);
    assert.equal(log.opened.filter((id) => id === A).length, 1, "opened once, then shared");

    const ca = (await dir.get(A))!;
    const cb = (await dir.get(B))!;
    await ca.store.saveProfiles([{ profile: profile("u1", { v: "a" }), identKeys: ["k"] }]);
    await cb.store.saveProfiles([{ profile: profile("u1", { v: "b" }), identKeys: ["k"] }]);
    assert.equal((await cb.store.lookupProfile(["k"]))?.profile?.user.v, "b");
    assert.equal(await dir.standalone.store.lookupUserId(["k"]), null);
    assert.equal(dir.openNow(A), ca);
    assert.deepEqual(dir.allNow().map((c) => c.id), [STANDALONE_ID, A, B]);

    const removed: string[] = [];
    dir.onRemoved((id) => removed.push(id));
    await dir.remove(A);
    assert.deepEqual(removed, [A]);
    assert.ok(log.closed.includes(A));
    assert.equal(await dir.get(A), null);
    assert.equal(dir.openNow(A), null);
    const scope = root.scoped(A);
    assert.equal(await scope.lookupUserId(["k"]), null, "its data went with it");
    await scope.close();
    assert.equal((await cb.store.lookupProfile(["k"]))?.profile?.user.v, "b", "B untouched");
    await assert.rejects(() => dir.remove(STANDALONE_ID), /standalone/);
  } finally {
    await dir.close();
    await root.close();
  }
});

Deno.test("connector directory - another instance opens what one registered and closes what it removed", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  const one = await KvStore.open(path);
  const two = await KvStore.open(path);
  const first = factory();
  const second = factory();
  const d1 = await ConnectorDirectory.create(one, first.f, { sweepMs: 60_000 });
  const d2 = await ConnectorDirectory.create(two, second.f, { sweepMs: 60_000 });
  try {
    await d1.register(A, 5);
    assert.equal(d2.openNow(A), null, "not before its sweep");
    await d2.sync();
    assert.equal(d2.openNow(A)?.id, A);
    const told: string[] = [];
    d2.onRemoved((id) => told.push(id));
    const late = d2.openNow(A)!;
    await d1.remove(A);
    // The second instance has not noticed yet: what it writes now must not outlive the removal.
    await late.store.setMeta("seen", { names: ["plan"] });
    late.events.emit("incoming.user.start", { message: "late line" });
    await d2.sync();
    assert.equal(d2.openNow(A), null);
    assert.deepEqual(told, [A]);
    assert.ok(second.log.closed.includes(A));
    const scope = one.scoped(A);
    assert.equal(await scope.getMeta("seen"), null, "the late write went with the connector");
    assert.deepEqual(await scope.listEvents(10), [], "so did the late log line");
    await scope.close();
  } finally {
    await d1.close();
    await d2.close();
    await one.close();
    await two.close();
    await Deno.remove(path).catch(() => {});
  }
});
