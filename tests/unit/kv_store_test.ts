/**
 * Deno KV specifics of KvStore: the 64 KiB value limit (profiles split into parts) and the
 * expiry kept in the value. The behaviour every store shares is in store_contract_test.ts.
 */
import assert from "node:assert/strict";
import { KvStore, PART_BYTES } from "../../lib/kv_store.ts";
import { profile } from "../helpers/store_fixtures.ts";

async function withStore(fn: (s: KvStore) => Promise<void>) {
  const s = await KvStore.open(":memory:");
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

Deno.test("kv store - a profile over the 64 KiB value limit is split and read back whole", () =>
  withStore(async (s) => {
    const big = "é".repeat(PART_BYTES * 2); // multi-byte: 4 parts of UTF-8
    await s.saveProfiles([{ profile: profile("u1", { big }), identKeys: ["k"] }]);
    assert.equal((await s.getProfile("u1"))?.user.big, big);
    // Replacing it with a small one removes the parts.
    await s.saveProfiles([{ profile: profile("u1", { small: 1 }, Date.now() + 1), identKeys: [] }]);
    assert.equal((await s.getProfile("u1"))?.user.small, 1);
    let parts = 0;
    for await (const _ of s.kv.list({ prefix: ["profile_parts"] })) parts++;
    assert.equal(parts, 0);
  }));

Deno.test("kv store - an expired claim (expiry kept in the value) can be claimed again", () =>
  withStore(async (s) => {
    await s.kv.set(["notifications", "old"], { expires_at: Date.now() - 1 });
    assert.equal(await s.claimNotification("old", 60_000), true);
  }));
