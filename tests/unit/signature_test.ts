import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import {
  importHullPublicKey,
  signHmac,
  verifyHmacSignature,
  verifyHullJwt,
} from "../../lib/webhook/signature.ts";

const enc = new TextEncoder();
const SECRET = "whsec-current-0123456789abcdef";
const OLD_SECRET = "whsec-previous-fedcba9876543210";
const NOW = 1_800_000_000;
const BODY = enc.encode(
  JSON.stringify({ notification_id: "n-1", channel: "user:update", messages: [] }),
);

function v1Of(header: string): string {
  return header.split(",").find((p) => p.startsWith("v1="))!.slice(3);
}

async function verify(header: string | null | undefined, body = BODY, secrets = [SECRET]) {
  return await verifyHmacSignature(header, body, secrets, NOW);
}

function assertRejected(
  r: { ok: true } | { ok: false; reason: string },
  pattern: RegExp,
): void {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.reason, pattern);
  for (const s of [SECRET, OLD_SECRET]) assert.ok(!r.reason.includes(s), "reason leaks a secret");
}

Deno.test("signHmac - matches an independent HMAC-SHA256 over '<t>.<body>'", async () => {
  const header = await signHmac(SECRET, BODY, NOW);
  const expected = createHmac("sha256", SECRET).update(`${NOW}.`).update(BODY).digest("hex");
  assert.equal(header, `t=${NOW},v1=${expected}`);
  // A string body signs the same bytes as its UTF-8 encoding.
  assert.equal(await signHmac(SECRET, new TextDecoder().decode(BODY), NOW), header);
});

Deno.test("signHmac - defaults t to the current time", async () => {
  const before = Math.floor(Date.now() / 1000);
  const t = Number(/^t=(\d+),/.exec(await signHmac(SECRET, "x"))![1]);
  assert.ok(t >= before && t <= Math.floor(Date.now() / 1000) + 1, String(t));
});

Deno.test("verifyHmacSignature - accepts a valid signature", async () => {
  assert.deepEqual(await verify(await signHmac(SECRET, BODY, NOW)), { ok: true });
});

Deno.test("verifyHmacSignature - covers the exact bytes, not a re-encoding", async () => {
  const binary = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x7d]); // not valid UTF-8
  const header = await signHmac(SECRET, binary, NOW);
  assert.deepEqual(await verify(header, binary), { ok: true });
  const replaced = enc.encode(new TextDecoder().decode(binary)); // U+FFFD substitutions
  assertRejected(await verify(header, replaced), /does not match/);
});

Deno.test("verifyHmacSignature - rejects a wrong secret", async () => {
  const header = await signHmac("some-other-secret", BODY, NOW);
  assertRejected(await verify(header), /does not match/);
});

Deno.test("verifyHmacSignature - rejects a tampered body or timestamp", async () => {
  const header = await signHmac(SECRET, BODY, NOW);
  const tampered = BODY.slice();
  tampered[tampered.length - 2] ^= 0x01;
  assertRejected(await verify(header, tampered), /does not match/);
  assertRejected(await verify(header, enc.encode("")), /does not match/);
  // The timestamp is signed too: moving it (still fresh) breaks the signature.
  assertRejected(await verify(`t=${NOW - 10},v1=${v1Of(header)}`), /does not match/);
});

Deno.test("verifyHmacSignature - rejects stale timestamps, past and future", async () => {
  const past = await verifyHmacSignature(
    await signHmac(SECRET, BODY, NOW - 412),
    BODY,
    [SECRET],
    NOW,
  );
  assertRejected(past, /412 s away from server time \(limit 300 s\)/);
  assertRejected(await verify(await signHmac(SECRET, BODY, NOW + 301)), /301 s away/);
  // The limit itself is still accepted, on both sides.
  assert.deepEqual(await verify(await signHmac(SECRET, BODY, NOW - 300)), { ok: true });
  assert.deepEqual(await verify(await signHmac(SECRET, BODY, NOW + 300)), { ok: true });
  // A custom tolerance is honoured.
  const r = await verifyHmacSignature(
    await signHmac(SECRET, BODY, NOW - 31),
    BODY,
    [SECRET],
    NOW,
    30,
  );
  assertRejected(r, /limit 30 s/);
});

Deno.test("verifyHmacSignature - sender-side rotation: any of several v1 values", async () => {
  const withOld = await signHmac(OLD_SECRET, BODY, NOW);
  const withNew = await signHmac(SECRET, BODY, NOW);
  const both = `t=${NOW},v1=${v1Of(withOld)},v1=${v1Of(withNew)}`;
  assert.deepEqual(await verify(both, BODY, [SECRET]), { ok: true });
  assert.deepEqual(await verify(both, BODY, [OLD_SECRET]), { ok: true });
  assertRejected(await verify(both, BODY, ["unrelated-secret"]), /does not match/);
});

Deno.test("verifyHmacSignature - receiver-side rotation: any configured secret", async () => {
  const signedOld = await signHmac(OLD_SECRET, BODY, NOW);
  assert.deepEqual(await verify(signedOld, BODY, [SECRET, OLD_SECRET]), { ok: true });
  assert.deepEqual(await verify(signedOld, BODY, [OLD_SECRET, SECRET]), { ok: true });
  assertRejected(await verify(signedOld, BODY, [SECRET]), /does not match/);
});

Deno.test("verifyHmacSignature - tolerates part order, spaces and unknown schemes", async () => {
  const v1 = v1Of(await signHmac(SECRET, BODY, NOW));
  assert.deepEqual(await verify(`v1=${v1},t=${NOW}`), { ok: true });
  assert.deepEqual(await verify(`t=${NOW}, v1=${v1}`), { ok: true });
  assert.deepEqual(await verify(`t=${NOW},v0=abc,v1=${v1.toUpperCase()}`), { ok: true });
});

Deno.test("verifyHmacSignature - rejects missing and malformed headers", async () => {
  const v1 = v1Of(await signHmac(SECRET, BODY, NOW));
  assertRejected(await verify(undefined), /missing/);
  assertRejected(await verify(null), /missing/);
  assertRejected(await verify(""), /missing/);
  assertRejected(await verify("   "), /missing/);
  assertRejected(await verify("garbage"), /malformed/);
  assertRejected(await verify(`v1=${v1}`), /no t=/);
  assertRejected(await verify(`t=${NOW}`), /no v1=/);
  assertRejected(await verify(`t=${NOW},v0=${v1}`), /no v1=/);
  assertRejected(await verify(`t=abc,v1=${v1}`), /not a number/);
  assertRejected(await verify(`t=-5,v1=${v1}`), /not a number/);
  assertRejected(await verify(`t=${NOW}.5,v1=${v1}`), /not a number/);
  assertRejected(await verify(`t=${NOW},t=${NOW},v1=${v1}`), /more than one t=/);
  assertRejected(await verify(`t=${NOW},v1=xyz`), /64 hex/);
  assertRejected(await verify(`t=${NOW},v1=${v1.slice(2)}`), /64 hex/);
  assertRejected(await verify(`t=${NOW},` + Array(9).fill(`v1=${v1}`).join(",")), /more than 8/);
  assertRejected(await verify(`t=${NOW},v1=${"a".repeat(3000)}`), /too long/);
});

Deno.test("verifyHmacSignature - refuses everything when no secret is configured", async () => {
  const header = signHmac("", BODY, NOW); // an empty key signs, but verifies nothing
  assertRejected(await verify(header, BODY, []), /no webhook secret/);
  assertRejected(await verify(header, BODY, [""]), /no webhook secret/);
});

// ---- Hull's RS256 smart-notifier JWT ----

const NOTIFICATION_ID = "8d0f5a2e-3c1b-4e7a-9f3e-1b2c3d4e5f60";
const hull = await generateKeyPair("RS256", { extractable: true });
const attacker = await generateKeyPair("RS256", { extractable: true });
const HULL_SPKI = await exportSPKI(hull.publicKey);

function token(jti = NOTIFICATION_ID, key: CryptoKey = hull.privateKey): Promise<string> {
  return new SignJWT({ org: "acme.hullapp.io" })
    .setProtectedHeader({ alg: "RS256" })
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key);
}

function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

// Minimal DER writer, enough for a self-signed certificate around our test key.
function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = len < 128
    ? [tag, len]
    : len < 256
    ? [tag, 0x81, len]
    : [tag, 0x82, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let at = head.length;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

async function selfSignedCertificate(pair: CryptoKeyPair): Promise<string> {
  const b = (xs: number[]) => new Uint8Array(xs);
  const sha256WithRsa = der(
    0x30,
    b([6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
    b([5, 0]),
  );
  const name = der(0x31, der(0x30, b([6, 3, 0x55, 4, 3]), der(0x0c, enc.encode("hull test"))));
  const issuer = der(0x30, name);
  const validity = der(
    0x30,
    der(0x17, enc.encode("250101000000Z")),
    der(0x17, enc.encode("350101000000Z")),
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const tbs = der(
    0x30,
    der(0xa0, der(2, b([2]))),
    der(2, b([1])),
    sha256WithRsa,
    issuer,
    validity,
    issuer,
    spki,
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, tbs as Uint8Array<ArrayBuffer>),
  );
  const cert = der(0x30, tbs, sha256WithRsa, der(3, b([0]), sig));
  const base64 = btoa(String.fromCharCode(...cert)).replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

Deno.test("verifyHullJwt - accepts a valid RS256 token with jti = notification_id", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  assert.deepEqual(await verifyHullJwt(await token(), key, NOTIFICATION_ID), { ok: true });
});

Deno.test("verifyHullJwt - rejects a token signed by another key", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  const r = await verifyHullJwt(
    await token(NOTIFICATION_ID, attacker.privateKey),
    key,
    NOTIFICATION_ID,
  );
  assertRejected(r, /signature does not match/);
});

Deno.test("verifyHullJwt - ignores a key embedded in the token header", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  const jwk = await exportJWK(attacker.publicKey);
  const forged = await new SignJWT({})
    .setProtectedHeader({ alg: "RS256", jwk, jku: "https://evil.example/keys" })
    .setJti(NOTIFICATION_ID)
    .sign(attacker.privateKey);
  assert.equal((await verifyHullJwt(forged, key, NOTIFICATION_ID)).ok, false);
});

Deno.test("verifyHullJwt - rejects a jti other than the notification_id", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  assertRejected(await verifyHullJwt(await token("other-id"), key, NOTIFICATION_ID), /jti/);
  assertRejected(await verifyHullJwt(await token(), key, ""), /jti/);
  const noJti = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).sign(hull.privateKey);
  assertRejected(await verifyHullJwt(noJti, key, NOTIFICATION_ID), /jti/);
});

Deno.test("verifyHullJwt - rejects HS256 signed with the public key (alg confusion)", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  for (const secret of [HULL_SPKI, HULL_SPKI.trim()]) {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setJti(NOTIFICATION_ID)
      .sign(enc.encode(secret));
    assertRejected(await verifyHullJwt(forged, key, NOTIFICATION_ID), /algorithm/);
  }
});

Deno.test("verifyHullJwt - rejects an unsigned alg=none token", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  const none = `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(`{"jti":"${NOTIFICATION_ID}"}`)}.`;
  assert.equal((await verifyHullJwt(none, key, NOTIFICATION_ID)).ok, false);
});

Deno.test("verifyHullJwt - rejects an expired token", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({})
    .setProtectedHeader({ alg: "RS256" })
    .setJti(NOTIFICATION_ID)
    .setIssuedAt(now - 7200)
    .setExpirationTime(now - 3600)
    .sign(hull.privateKey);
  assertRejected(await verifyHullJwt(expired, key, NOTIFICATION_ID), /expired/);
});

Deno.test("verifyHullJwt - rejects missing and garbage tokens", async () => {
  const key = await importHullPublicKey(HULL_SPKI);
  assertRejected(await verifyHullJwt(undefined, key, NOTIFICATION_ID), /missing/);
  assertRejected(await verifyHullJwt(null, key, NOTIFICATION_ID), /missing/);
  assertRejected(await verifyHullJwt("  ", key, NOTIFICATION_ID), /missing/);
  for (const garbage of ["abc", "a.b.c", "not a jwt at all", "....", b64url("{}") + ".."]) {
    assert.equal((await verifyHullJwt(garbage, key, NOTIFICATION_ID)).ok, false, garbage);
  }
  // A valid token with its payload swapped fails the signature.
  const [h, , s] = (await token()).split(".");
  const swapped = `${h}.${b64url(`{"jti":"${NOTIFICATION_ID}","admin":true}`)}.${s}`;
  assertRejected(await verifyHullJwt(swapped, key, NOTIFICATION_ID), /signature/);
});

Deno.test("importHullPublicKey - reads an X.509 certificate PEM", async () => {
  const key = await importHullPublicKey(await selfSignedCertificate(hull));
  assert.deepEqual(await verifyHullJwt(await token(), key, NOTIFICATION_ID), { ok: true });
  const r = await verifyHullJwt(
    await token(NOTIFICATION_ID, attacker.privateKey),
    key,
    NOTIFICATION_ID,
  );
  assert.equal(r.ok, false);
});

Deno.test("importHullPublicKey - reads a PEM pasted with literal \\n escapes", async () => {
  const key = await importHullPublicKey(HULL_SPKI.trim().replace(/\n/g, "\\n"));
  assert.deepEqual(await verifyHullJwt(await token(), key, NOTIFICATION_ID), { ok: true });
});

Deno.test("importHullPublicKey - rejects what is not a public key or certificate", async () => {
  await assert.rejects(importHullPublicKey(""), /BEGIN PUBLIC KEY.*BEGIN CERTIFICATE/);
  await assert.rejects(importHullPublicKey("not a key"), /BEGIN PUBLIC KEY/);
  const pkcs8 = `-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----`;
  await assert.rejects(importHullPublicKey(pkcs8), /BEGIN PUBLIC KEY/);
  const corrupt = "-----BEGIN PUBLIC KEY-----\nAAAAbogus\n-----END PUBLIC KEY-----";
  await assert.rejects(importHullPublicKey(corrupt), /could not be read/);
  const ec = await generateKeyPair("ES256", { extractable: true });
  await assert.rejects(importHullPublicKey(await exportSPKI(ec.publicKey)), /could not be read/);
});

Deno.test("signHmac - the same bytes as WebCrypto's HMAC-SHA256 of `<t>.<body>`", async () => {
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signed = new Uint8Array([...enc.encode(`${NOW}.`), ...BODY]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, signed));
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(signHmac(SECRET, BODY, NOW), `t=${NOW},v1=${hex}`);
  assert.equal(signHmac(SECRET, new TextDecoder().decode(BODY), NOW), `t=${NOW},v1=${hex}`);
});
