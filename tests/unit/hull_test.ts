/**
 * The Hull integration's pure parts and their edges: configuration, which key URLs may be
 * fetched, the settings read from private_settings, the access token, user report shapes, and
 * the encrypted credentials (on a real in-memory KV store).
 */
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { ConfigError, loadConfig } from "../../lib/config.ts";
import { parseDomainList } from "../../lib/domains.ts";
import { toMessage, userToken } from "../../lib/hull/api_client.ts";
import { HullCredentials } from "../../lib/hull/credentials.ts";
import { HullKeyFetcher } from "../../lib/hull/key_fetcher.ts";
import { readHullSettings } from "../../lib/hull/settings_sync.ts";
import { hullSigningKey } from "../../lib/hull/signing_key.ts";
import { KvStore } from "../../lib/store/kv_store.ts";

Deno.test("hull config - defaults, overrides and every problem named", () => {
  const d = loadConfig({}).hull;
  assert.deepEqual(d.keyHosts.map((p) => p.raw), [
    "hullapp.io",
    "*.hullapp.io",
    "hull.io",
    "*.hull.io",
  ]);
  assert.equal(d.apiBaseUrl, null);
  assert.equal(d.fetchesPerSecond, 10);
  assert.equal(d.fetchIntervalMinutes, 15);
  const c = loadConfig({
    HULL_KEY_HOSTS: "none",
    HULL_API_BASE_URL: "https://proxy.internal/hull/",
    HULL_FETCH_PER_SECOND: "0",
    HULL_FETCH_INTERVAL_MINUTES: "60",
  }).hull;
  assert.deepEqual(c.keyHosts, []);
  assert.equal(c.apiBaseUrl, "https://proxy.internal/hull");
  assert.equal(c.fetchesPerSecond, 0);
  assert.equal(c.fetchIntervalMinutes, 60);
  try {
    loadConfig({
      HULL_KEY_HOSTS: "*.com",
      HULL_API_BASE_URL: "ftp://x",
      HULL_FETCH_PER_SECOND: "-1",
      HULL_FETCH_INTERVAL_MINUTES: "0",
    });
    assert.fail("should throw");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const names = err.problems.map((p) => p.split(/[ :]/)[0]);
    assert.deepEqual(names.sort(), [
      "HULL_API_BASE_URL",
      "HULL_FETCH_INTERVAL_MINUTES",
      "HULL_FETCH_PER_SECOND",
      "HULL_KEY_HOSTS",
    ]);
  }
});

Deno.test("key fetcher - only https URLs on allowed hosts, no user info, whole labels", () => {
  const f = new HullKeyFetcher({ hosts: parseDomainList("*.hullapp.io,keys.example.com:8443") });
  const allowed = [
    "https://acme.hullapp.io/api/v1/keys/1",
    "https://a.b.hullapp.io:444/k",
    "https://keys.example.com:8443/k",
  ];
  for (const url of allowed) assert.equal(f.refusal(url), null, url);
  const refused = [
    "http://acme.hullapp.io/k",
    "https://hullapp.io/k",
    "https://acme.hullapp.io.evil.net/k",
    "https://evilhullapp.io/k",
    "https://user:pw@acme.hullapp.io/k",
    "https://keys.example.com/k",
    "https://127.0.0.1/k",
    "file:///etc/passwd",
    "not a url",
    "https://acme.hullapp.io/" + "x".repeat(3000),
  ];
  for (const url of refused) assert.notEqual(f.refusal(url), null, url);
  assert.equal(new HullKeyFetcher({ hosts: [] }).enabled, false);
});

Deno.test("signing key - the version header must be v1; a key URL needs it; a pinned key wins", async () => {
  const fetcher = new HullKeyFetcher({ hosts: parseDomainList("*.hullapp.io") });
  const pinned = (await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  )).publicKey;
  const h = (o: Record<string, string>) => new Headers(o);
  const url = "https://127.0.0.1/key"; // would be refused if it were ever used
  let r = await hullSigningKey(h({ "x-hull-smart-notifier-signature-version": "v2" }), "t", {
    pinned,
    fetcher,
  });
  assert.equal(r.ok, false);
  r = await hullSigningKey(h({ "x-hull-smart-notifier-signature-public-key-url": url }), "t", {
    pinned,
    fetcher,
  });
  assert.equal(r.ok && r.key, pinned, "the pinned key, no URL fetched");
  r = await hullSigningKey(
    h({ "x-hull-smart-notifier-signature-public-key-url": "https://a.hullapp.io/k" }),
    "t",
    { pinned: null, fetcher },
  );
  assert.equal(!r.ok && r.reason, "X-Hull-Smart-Notifier-Signature-Version is missing");
});

Deno.test("hull settings - lists are trimmed and deduplicated, bad values are reported", () => {
  const r = readHullSettings({
    public_traits: [" email ", "email", "", "traits_plan"],
    public_segments: "seg_a",
    public_account_segments: [1],
    synchronized_segments: null,
    whitelisted_domains: ["*.example.com"],
    identity_mode: "sometimes",
    anonymous_traits: [],
  }, false);
  assert.deepEqual(r.settings, { public_traits: ["email", "traits_plan"], anonymous_traits: [] });
  assert.deepEqual(r.domains, ["*.example.com"]);
  assert.deepEqual(r.keys.sort(), ["anonymous_traits", "domains", "public_traits"]);
  assert.equal(r.problems.length, 3);
  assert.deepEqual(readHullSettings({ identity_mode: "report" }, true).settings, {
    identity_mode: "report",
  });
  assert.deepEqual(readHullSettings("nonsense", true).keys, []);
});

Deno.test("hull token - HS256 with the connector secret, acting as the visitor", async () => {
  const conn = { id: "conn1", organization: "acme.hullapp.io", secret: "s3cret-0123456789" };
  const jwt = await userToken(conn, { email: "ada@example.com", anonymous_id: "a1" });
  assert.equal(decodeProtectedHeader(jwt).alg, "HS256");
  const { payload } = await jwtVerify(jwt, new TextEncoder().encode(conn.secret));
  assert.equal(payload.iss, "conn1");
  assert.equal(payload["io.hull.subjectType"], "user");
  assert.deepEqual(payload["io.hull.asUser"], { email: "ada@example.com", anonymous_id: "a1" });
  assert.equal(payload.sub, undefined);
  assert.equal(decodeJwt(await userToken(conn, { id: "u1" })).sub, "u1");
});

Deno.test("user report - both shapes become a message; no user id means not found", () => {
  const flat = toMessage({
    id: "u1",
    email: "a@b.c",
    account: { name: "X", segments: [{ id: "as1", name: "A" }] },
    segments: [{ id: "s1", name: "S" }, "junk"],
  });
  assert.equal(flat?.user.email, "a@b.c");
  assert.equal("segments" in flat!.user, false);
  assert.deepEqual(flat?.segments, [{ id: "s1", name: "S" }]);
  assert.deepEqual(flat?.account_segments, [{ id: "as1", name: "A" }]);
  const wrapped = toMessage({ user: { id: "u2" }, segments: [] });
  assert.equal(wrapped?.user.id, "u2");
  for (const bad of [null, [], {}, { id: 5 }, { user: { id: "" } }]) {
    assert.equal(toMessage(bad), null, JSON.stringify(bad));
  }
});

Deno.test("hull credentials - the secret is stored encrypted, bound to its connector", async () => {
  const store = await KvStore.open(":memory:");
  try {
    const creds = await HullCredentials.create(store, "server-secret-0123456789abcdef");
    assert.equal(await creds.current(), null);
    const conn = { id: "conn1", organization: "acme.hullapp.io", secret: "hull-secret-xyz" };
    await creds.save(conn);
    const raw = await store.getMeta<Record<string, string>>("hull_connector");
    assert.equal(JSON.stringify(raw).includes("hull-secret-xyz"), false);
    // Another instance with the same SECRET reads it; one with another SECRET cannot.
    const peer = await HullCredentials.create(store, "server-secret-0123456789abcdef");
    assert.deepEqual(await peer.current(), conn);
    const stranger = await HullCredentials.create(store, "another-secret-0123456789abcdef");
    assert.equal(await stranger.current(), null);
    // A ciphertext moved to another connector's document is not used.
    await store.setMeta("hull_connector", { ...raw, id: "conn2" });
    const fresh = await HullCredentials.create(store, "server-secret-0123456789abcdef");
    assert.equal(await fresh.current(), null);
    assert.equal((await fresh.info())?.id, "conn2");
    await fresh.forget();
    assert.equal(await fresh.info(), null);
  } finally {
    await store.close();
  }
});
