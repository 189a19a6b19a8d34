/**
 * RedisStore specifics (the shared behaviour is in store_contract_test.ts): a clear error when
 * Redis is unreachable at boot, the key prefix, the profile size cap, catching up on config
 * after a reconnect, and failing fast then recovering across a Redis restart.
 */
import assert from "node:assert/strict";
import { MAX_REDIS_PROFILE_BYTES, RedisStore } from "../../lib/store/redis_store.ts";
import { freePort, redisSkipReason, withRedis } from "../helpers/redis.ts";
import { AdminAuth, REVOKED_GRACE_MS, SESSION_TTL_MS } from "../../lib/admin/auth.ts";
import { profile, SETTINGS, waitFor } from "../helpers/store_fixtures.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const skip = redisSkipReason();

Deno.test({
  name: "redis store - engine specifics",
  ignore: skip !== undefined,
  ...opts,
  fn: (t) =>
    withRedis(async (redis, raw) => {
      await t.step("redis store - an unreachable Redis at boot is a clear error", async () => {
        const port = freePort();
        await assert.rejects(
          RedisStore.connect(`redis://:hunter2-secret@127.0.0.1:${port}`, { bootRetries: 0 }),
          (err: Error) => {
            assert.equal(err.name, "RedisUnavailableError");
            assert.match(
              err.message,
              new RegExp(
                `^Redis at redis://.*127\\.0\\.0\\.1:${port} is unreachable: ECONNREFUSED$`,
              ),
            );
            assert.ok(!err.message.includes("hunter2"), "no password in the message");
            return true;
          },
        );
      });

      await t.step("redis store - a meta document's expiry is Redis's own", async () => {
        await raw.flushDb();
        const s = await RedisStore.connect(redis.url);
        try {
          await s.setMeta("session_revoked:n1", { expires_at: 1 }, { expireInMs: 150 });
          await s.setMeta("kept", { n: 1 });
          const ttl = await raw.pTTL("hull-browser:meta:doc:session_revoked:n1");
          assert.ok(ttl > 0 && ttl <= 150, `pttl ${ttl}`);
          assert.equal(await raw.pTTL("hull-browser:meta:doc:kept"), -1, "no expiry");
          await waitFor(async () => await s.getMeta("session_revoked:n1") === null, 3_000);
          assert.equal(await s.getMeta("session_revoked:n1"), null, "gone after its expiry");
          assert.deepEqual(await s.getMeta("kept"), { n: 1 });
        } finally {
          await s.close();
        }
      });

      await t.step("admin auth - a logout's record expires a minute after its cookie", async () => {
        await raw.flushDb();
        const s = await RedisStore.connect(redis.url);
        try {
          const auth = await AdminAuth.create("secret-0123456789abcdef", "pw", s);
          const left = 5_000; // the cookie has 5 s to live
          const session = { nonce: "n2", issuedAt: Date.now() - SESSION_TTL_MS + left, csrf: "" };
          await auth.revoke(session);
          const ttl = await raw.pTTL("hull-browser:meta:doc:session_revoked:n2");
          assert.ok(ttl > REVOKED_GRACE_MS && ttl <= left + REVOKED_GRACE_MS, `pttl ${ttl}`);
          const other = await AdminAuth.create("secret-0123456789abcdef", "pw", s);
          assert.equal(await other.isRevoked(session), true);
        } finally {
          await s.close();
        }
      });

      await t.step("redis store - keys live under the prefix, prefixes share nothing", async () => {
        await raw.flushDb();
        const a = await RedisStore.connect(redis.url, { prefix: "a:" });
        const b = await RedisStore.connect(redis.url, { prefix: "b:" });
        try {
          await a.saveProfiles([{ profile: profile("u1"), identKeys: ["k"] }]);
          await a.appendEvents([{ time: new Date().toISOString(), event: "e", instance: "t" }]);
          assert.equal(await b.getProfile("u1"), null);
          assert.equal(await b.lookupUserId(["k"]), null);
          const keys = await raw.keys("*");
          assert.ok(keys.length >= 3 && keys.every((k) => k.startsWith("a:")), keys.join());
          const plain = await RedisStore.connect(redis.url);
          await plain.seedIfEmpty({ settings: SETTINGS, domains: [] });
          await plain.close();
          assert.ok((await raw.keys("hull-browser:*")).length > 0, "default prefix");
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      });

      await t.step(
        "redis store - an oversized profile is left out and the rest of the batch stored",
        async () => {
          await raw.flushDb();
          const s = await RedisStore.connect(redis.url);
          try {
            const big = "x".repeat(MAX_REDIS_PROFILE_BYTES);
            const res = await s.saveProfiles([
              { profile: profile("small"), identKeys: ["ks"] },
              { profile: profile("big", { big }), identKeys: ["kb"] },
            ]);
            assert.deepEqual(res.rejected.map((r) => r.userId), ["big"]);
            assert.match(res.rejected[0].reason, /above/);
            assert.equal((await s.getProfile("small"))?.user.id, "small");
            assert.equal(await s.getProfile("big"), null);
            assert.equal(await s.lookupUserId(["kb"]), null);
            // Large but under the cap: no 64 KiB limit here.
            const large = "é".repeat(200_000);
            await s.saveProfiles([{ profile: profile("large", { large }), identKeys: [] }]);
            assert.equal((await s.getProfile("large"))?.user.large, large);
          } finally {
            await s.close();
          }
        },
      );

      await t.step("redis store - a watcher re-reads the config after a reconnect", async () => {
        await raw.flushDb();
        const s = await RedisStore.connect(redis.url);
        try {
          const seen: string[][] = [];
          s.watchConfig((c) => seen.push(c.domains));
          // A change nobody published (as if it happened while the subscriber was away): no
          // message is on its way, so nothing is seen...
          await raw.set("hull-browser:config:domains", JSON.stringify(["late.com"]));
          assert.equal(seen.length, 0);
          // ...is picked up once the subscriber connection comes back.
          await raw.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
          await waitFor(() => seen.at(-1)?.[0] === "late.com", 5_000);
          assert.deepEqual(seen.at(-1), ["late.com"]);
        } finally {
          await s.close();
        }
      });

      await t.step("redis store - ping fails while Redis is down, all recovers after", async () => {
        await raw.flushDb();
        const s = await RedisStore.connect(redis.url);
        try {
          await s.saveProfiles([{ profile: profile("u1"), identKeys: ["k1"] }]);
          await redis.stop();
          let down = false;
          await waitFor(async () => (down = await s.ping().then(() => false, () => true)));
          assert.ok(down, "ping throws while Redis is down");
          // Commands fail fast instead of hanging in a queue.
          const t0 = performance.now();
          await assert.rejects(s.claimNotification("n", 1000));
          assert.ok(performance.now() - t0 < 1000);
          await redis.start();
          let up = false;
          await waitFor(async () => (up = await s.ping().then(() => true, () => false)), 10_000);
          assert.ok(up, "ping answers again after the restart");
          // The restarted Redis lost its script cache: EVALSHA falls back to EVAL.
          await s.saveProfiles([{ profile: profile("u2"), identKeys: ["k2"] }]);
          assert.equal(await s.lookupUserId(["k2"]), "u2");
        } finally {
          await s.close();
        }
      });
    }),
});
