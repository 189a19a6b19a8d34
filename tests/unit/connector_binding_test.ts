/**
 * The trust rules for Hull-signed bodies, pure: the binding rule (known id must match its
 * secret, unknown id registers within the policy), organizations (host names on the allowed
 * domains only), HULL_ORGANIZATIONS / HULL_CONNECTOR_ID parsing, the token's age, and what a
 * fetched key document must be.
 */
import assert from "node:assert/strict";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { ConfigError, loadConfig } from "../../lib/config.ts";
import { parseDomainList } from "../../lib/domains.ts";
import {
  type BindingPolicy,
  type ConnectorRegistry,
  decideBinding,
  organizationRefusal,
  type RegisteredConnector,
  sameSecret,
} from "../../lib/hull/connector_binding.ts";
import { keyDocumentRefusal } from "../../lib/hull/key_fetcher.ts";
import { verifyHullJwt } from "../../lib/webhook/signature.ts";

const ID = "5a1b2c3d4e5f60718293a4b5";
const OTHER = "ffffffffffffffffffffffff";
const HULL = parseDomainList("*.hullapp.io,*.hull.io");
const policy = (p: Partial<BindingPolicy> = {}): BindingPolicy => ({
  organizations: HULL,
  connectorId: null,
  maxConnectors: 1,
  ...p,
});
const registry = (bound: RegisteredConnector | null): ConnectorRegistry => ({
  lookup: (id) => (bound?.id === id ? bound : null),
  ids: () => (bound ? [bound.id] : []),
});
const body = (configuration: unknown, connector?: unknown) => ({
  notification_id: "n1",
  configuration,
  ...(connector ? { connector } : {}),
});
const conf = { id: ID, organization: "acme.hullapp.io", secret: "the-secret-0123456789" };

Deno.test("binding - a known id acts only with its secret; an unknown one registers if allowed", () => {
  const bound = registry({ ...conf });
  const ok = decideBinding(body(conf), bound, policy());
  assert.deepEqual(ok, { ok: true, connection: conf, known: true });
  const wrong = decideBinding(body({ ...conf, secret: "guess" }), bound, policy());
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.status, 403);
  assert.equal(JSON.stringify(wrong).includes("guess"), false, "no secret in the reason");
  // Another connector registers while there is room (HULL_MAX_CONNECTORS)...
  const second = decideBinding(body({ ...conf, id: OTHER }), bound, policy({ maxConnectors: 2 }));
  assert.deepEqual(second, { ok: true, connection: { ...conf, id: OTHER }, known: false });
  // ...and past it is refused, naming the limit.
  const other = decideBinding(body({ ...conf, id: OTHER }), bound, policy());
  assert.equal(!other.ok && other.status, 403);
  assert.match(
    !other.ok ? other.reason : "",
    /serves 1 Hull connector, .*HULL_MAX_CONNECTORS \(1\)/,
  );
  // Fresh deployment: the first allowed body registers.
  const fresh = decideBinding(body({ ...conf, id: OTHER }), registry(null), policy());
  assert.equal(fresh.ok && fresh.known, false);
  // A stored secret that cannot be read matches nothing.
  const unreadable = decideBinding(body(conf), registry({ ...conf, secret: null }), policy());
  assert.match(!unreadable.ok ? unreadable.reason : "", /cannot be read/);
});

Deno.test("binding - a body without configuration, id or secret changes nothing (400)", () => {
  for (
    const b of [
      { notification_id: "n" },
      body(null),
      body("x"),
      body({}),
      body({ organization: "acme.hullapp.io", secret: "s" }),
      body({ id: ID, organization: "acme.hullapp.io" }),
      body({ id: ID, organization: "acme.hullapp.io", secret: "" }),
      body({ id: "../x", organization: "acme.hullapp.io", secret: "s" }),
      body(conf, { id: OTHER }), // connector.id must be configuration.id
    ]
  ) {
    const v = decideBinding(b, registry(null), policy());
    assert.equal(!v.ok && v.status, 400, JSON.stringify(b));
  }
});

Deno.test("binding - HULL_CONNECTOR_ID and HULL_ORGANIZATIONS narrow who may bind", () => {
  const onlyId = policy({ connectorId: OTHER });
  assert.equal(decideBinding(body(conf), registry(null), onlyId).ok, false);
  assert.equal(decideBinding(body({ ...conf, id: OTHER }), registry(null), onlyId).ok, true);
  const onlyAcme = policy({ organizations: parseDomainList("acme.hullapp.io") });
  assert.equal(decideBinding(body(conf), registry(null), onlyAcme).ok, true);
  const v = decideBinding(
    body({ ...conf, organization: "evil.hullapp.io" }),
    registry(null),
    onlyAcme,
  );
  assert.equal(!v.ok && v.status, 403);
});

Deno.test("organization - only host names on the allowed domains, never an address or a port", () => {
  for (const ok of ["acme.hullapp.io", "ACME.hullapp.io", "a.b.hull.io"]) {
    assert.equal(organizationRefusal(ok, HULL), null, ok);
  }
  for (
    const bad of [
      "127.0.0.1",
      "127.0.0.1:8443",
      "acme.hullapp.io:444",
      "[::1]",
      "2130706433",
      "0x7f000001",
      "evil.com",
      "hullapp.io.evil.com",
      "evilhullapp.io",
      "hullapp.io", // the bare domain is not an organization
      "https://acme.hullapp.io",
      "acme.hullapp.io/path",
      "user@acme.hullapp.io",
      "localhost",
      "",
      42,
      null,
    ]
  ) {
    assert.notEqual(organizationRefusal(bad, HULL), null, String(bad));
  }
});

Deno.test("secrets - compared whole, whatever their lengths", () => {
  assert.equal(sameSecret("abc", "abc"), true);
  assert.equal(sameSecret("abc", "abd"), false);
  assert.equal(sameSecret("abc", "abcd"), false);
  assert.equal(sameSecret("", "x"), false);
});

Deno.test("hull config - HULL_ORGANIZATIONS and HULL_CONNECTOR_ID, and their problems named", () => {
  const d = loadConfig({}).hull;
  assert.deepEqual(d.organizations.map((p) => p.raw), ["*.hullapp.io", "*.hull.io"]);
  assert.equal(d.organizationsFromEnv, false);
  assert.equal(d.connectorId, null);
  const c =
    loadConfig({ HULL_ORGANIZATIONS: "acme.hullapp.io, *.acme.example", HULL_CONNECTOR_ID: ID })
      .hull;
  assert.deepEqual(c.organizations.map((p) => p.raw), ["acme.hullapp.io", "*.acme.example"]);
  assert.equal(c.connectorId, ID);
  for (
    const [env, name] of [
      [{ HULL_ORGANIZATIONS: "127.0.0.1" }, "HULL_ORGANIZATIONS"],
      [{ HULL_ORGANIZATIONS: "acme.hullapp.io:8443" }, "HULL_ORGANIZATIONS"],
      [{ HULL_ORGANIZATIONS: "not a host/" }, "HULL_ORGANIZATIONS"],
      [{ HULL_CONNECTOR_ID: "abc" }, "HULL_CONNECTOR_ID"],
      [{ HULL_CONNECTOR_ID: ID.toUpperCase() }, "HULL_CONNECTOR_ID"],
    ] as const
  ) {
    try {
      loadConfig(env);
      assert.fail(`should refuse ${JSON.stringify(env)}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.problems.some((p) => p.startsWith(name)), err.problems.join());
    }
  }
});

Deno.test("hull token - refused when exp passed or iat is older than the window; neither: accepted", async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const now = 1_800_000_000;
  const age = { nowSeconds: now, maxAgeSeconds: 86_400 };
  const token = (claims: { iat?: number; exp?: number }) => {
    const t = new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setJti("n1");
    if (claims.iat !== undefined) t.setIssuedAt(claims.iat);
    if (claims.exp !== undefined) t.setExpirationTime(claims.exp);
    return t.sign(privateKey);
  };
  const verdict = async (claims: { iat?: number; exp?: number }) =>
    await verifyHullJwt(await token(claims), publicKey, "n1", age);
  assert.equal((await verdict({ iat: now - 10, exp: now + 300 })).ok, true);
  assert.equal((await verdict({ iat: now - 86_000 })).ok, true);
  assert.equal((await verdict({ exp: now + 60 })).ok, true);
  assert.equal((await verdict({})).ok, true, "neither claim: accepted (docs/hull_trust.md)");
  const expired = await verdict({ iat: now - 600, exp: now - 300 });
  assert.match(!expired.ok ? expired.reason : "", /expired/);
  const old = await verdict({ iat: now - 400 * 86_400 });
  assert.match(!old.ok ? old.reason : "", /replay window/);
  const future = await verdict({ iat: now + 3600 });
  assert.match(!future.ok ? future.reason : "", /future/);
  // The jti still has to name the notification.
  const other = await verifyHullJwt(await token({ iat: now }), publicKey, "n2", age);
  assert.match(!other.ok ? other.reason : "", /jti/);
});

Deno.test("key document - exactly one PEM public key or certificate, never HTML, never repaired", async () => {
  const { publicKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  assert.equal(keyDocumentRefusal("text/plain", pem), null);
  assert.equal(keyDocumentRefusal(null, `\n${pem}\n\n`), null, "surrounding blanks are trimmed");
  assert.equal(keyDocumentRefusal("application/x-pem-file", pem.replaceAll("\n", "\r\n")), null);
  const refused: [string | null, string][] = [
    ["text/html; charset=utf-8", pem],
    ["application/xhtml+xml", pem],
    ["text/plain", `<html><body><pre>${pem}</pre></body></html>`],
    ["application/json", JSON.stringify({ key: pem })],
    ["text/plain", `echo: ${pem}`],
    ["text/plain", pem + pem],
    ["text/plain", pem.replaceAll("\n", "\\n")],
    ["text/plain", pem.replace("PUBLIC KEY-----\n", "PRIVATE KEY-----\n")],
    ["text/plain", ""],
  ];
  for (const [type, text] of refused) {
    assert.notEqual(keyDocumentRefusal(type, text), null, `${type}: ${text.slice(0, 40)}`);
  }
});
