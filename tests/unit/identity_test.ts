import assert from "node:assert/strict";
import {
  IdentifierHasher,
  maskIdentifiers,
  maskValue,
  parseFetchRequest,
  userIdentifiers,
} from "../../lib/identity.ts";

Deno.test("identity - room names are keyed hashes, never the raw identifier", async () => {
  const h = await IdentifierHasher.create("secret-one-0123456789");
  const room = await h.hash({ type: "email", value: "ada@example.com" });
  assert.match(room, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!room.includes("ada"));
  assert.equal(room, await h.hash({ type: "email", value: "ada@example.com" }), "stable");
});

Deno.test("identity - hashes differ by type, value and secret", async () => {
  const a = await IdentifierHasher.create("secret-one-0123456789");
  const b = await IdentifierHasher.create("secret-two-0123456789");
  const base = await a.hash({ type: "external_id", value: "42" });
  assert.notEqual(base, await a.hash({ type: "id", value: "42" }));
  assert.notEqual(base, await a.hash({ type: "external_id", value: "43" }));
  assert.notEqual(base, await b.hash({ type: "external_id", value: "42" }));
});

Deno.test("identity - room names match HMAC-SHA256 of type:value; the anonymous tier's differ", async () => {
  const secret = "secret-one-0123456789";
  const h = await IdentifierHasher.create(secret);
  const id = { type: "email" as const, value: "ada@example.com" };
  // Computed independently with WebCrypto: the sync node:crypto path gives the same bytes.
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(`hull-browser:rooms:${secret}`),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("email:ada@example.com")),
  );
  const expected = btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  assert.equal(h.hashSync(id), expected);
  const anonymous = h.hashSync(id, "anonymous");
  assert.notEqual(anonymous, expected);
  assert.ok(anonymous.startsWith(expected), "derived from the keyed hash, so as unguessable");
  assert.equal(await h.hash(id, "anonymous"), anonymous);
});

Deno.test("identity - user.fetch claims are validated and normalized", () => {
  const r = parseFetchRequest({
    claims: { email: " Ada@Example.COM ", anonymous_id: "abc", junk: "ignored" },
    shipId: "x",
  });
  assert.ok(r.ok);
  assert.deepEqual(r.claims, { email: "ada@example.com", anonymous_id: "abc" });
  assert.equal(r.shipId, "x");
  for (
    const bad of [null, 1, "x", [], { claims: [] }, { claims: {} }, { claims: { id: 5 } }, {
      claims: { id: "x".repeat(257) },
    }, { claims: { id: "a" }, hash: 5 }]
  ) {
    const res = parseFetchRequest(bad);
    assert.equal(res.ok, false, JSON.stringify(bad));
    if (!res.ok) assert.ok(res.error.length > 5);
  }
});

Deno.test("identity - prototype-polluting claims are not honoured", () => {
  const r = parseFetchRequest({ claims: JSON.parse('{"__proto__":{"email":"x@y.z"}}') });
  assert.equal(r.ok, false);
  assert.equal(({} as Record<string, unknown>).email, undefined);
});

Deno.test("identity - every identifier of a Hull user is indexed", () => {
  const ids = userIdentifiers({
    id: "u1",
    external_id: "e1",
    email: "Ada@Example.com",
    contact_email: "ada@example.com",
    anonymous_ids: ["a1", "a2", 3, null],
  });
  assert.deepEqual(ids.map((i) => `${i.type}:${i.value}`), [
    "id:u1",
    "external_id:e1",
    "email:ada@example.com",
    "anonymous_id:a1",
    "anonymous_id:a2",
    "anonymous_id:3",
  ]);
});

Deno.test("identity - masking hides most of each value", () => {
  const email = maskValue("email", "ada.lovelace@example.com");
  assert.ok(!email.includes("lovelace") && !email.includes("example"), email);
  assert.ok(email.endsWith(".com"));
  const id = maskValue("id", "5f00000000000000000000a1");
  assert.ok(id.length < 12 && id.startsWith("5f00"), id);
  assert.equal(maskValue("id", "abc"), "***");
  assert.deepEqual(
    Object.keys(maskIdentifiers([{ type: "email", value: "a@b.co" }, { type: "id", value: "x" }])),
    ["email", "id"],
  );
});
