import assert from "node:assert/strict";
import { readConfig } from "../../lib/snippet/endpoint.ts";
import { linkFromUrl, linkTypes } from "../../lib/snippet/identity.ts";
import { createPayloadState, createStore, PAYLOAD_KEY } from "../../lib/snippet/cache.ts";

Deno.test("snippet urls - ajs_* identities without ajs_hash are marked as from a link", () => {
  const r = linkFromUrl("?ajs_email=victim%40example.com&ajs_uid=42&utm_source=x");
  assert.deepEqual(r.untrusted.sort(), ["email:victim@example.com", "external_id:42"]);
  assert.deepEqual(r.claims, { external_id: "42", email: "victim@example.com" });
  assert.equal(r.hash, undefined);
  assert.deepEqual(
    linkTypes(
      { email: "victim@example.com", external_id: "42", anonymous_id: "anon-1" },
      r.untrusted,
    ),
    ["external_id", "email"],
  );
});

Deno.test("snippet urls - with ajs_hash the claims are not marked and the hash is sent", () => {
  const r = linkFromUrl("?ajs_email=a%40b.co&ajs_hash=abc123");
  assert.deepEqual(r.untrusted, []);
  assert.equal(r.hash, "abc123");
  assert.deepEqual(r.claims, { email: "a@b.co" });
  assert.deepEqual(linkFromUrl("").untrusted, []);
  assert.equal(linkFromUrl("?utm_source=x").claims, undefined);
});

Deno.test("snippet urls - the same value from another source is still dropped", () => {
  // analytics.js persisted the planted email: later pages have no query string, but the
  // remembered untrusted value keeps it out.
  assert.deepEqual(linkTypes({ email: "a@b.co", anonymous_id: "x" }, ["email:a@b.co"]), ["email"]);
});

Deno.test("snippet endpoint - data-user-hash is read from the tag", () => {
  const attrs: Record<string, string> = { "data-user-hash": "f00d" };
  const c = readConfig(
    { src: "https://c.example.com/hull-browser.js", getAttribute: (n) => attrs[n] ?? null },
    "https://shop.example.com/",
  );
  assert.equal(c?.userHash, "f00d");
});

Deno.test("snippet cache - clear() forgets the payload in memory and storage", () => {
  const data = new Map<string, string>();
  const storage = {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
  };
  const state = createPayloadState(createStore(() => storage));
  assert.ok(state.accept({ user: { id: "u1", email: "a@b.co" }, version: 5 }));
  state.clear();
  assert.equal(state.last(), undefined);
  assert.equal(createStore(() => storage).read(PAYLOAD_KEY), null);
  assert.equal(createPayloadState(createStore(() => storage)).replay(), undefined);
});
