import assert from "node:assert/strict";
import { exportSPKI, generateKeyPair } from "jose";
import { ConfigError, loadConfig, parseList } from "../../lib/config.ts";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

Deno.test("config - defaults work on a laptop with no variables", () => {
  const c = loadConfig({});
  assert.equal(c.port, 8000);
  assert.equal(c.secret, null);
  assert.equal(c.adminPassword, null);
  assert.deepEqual(c.webhookSecrets, []);
  assert.equal(c.production, false);
  assert.deepEqual(c.seed.settings.public_traits, []);
});

Deno.test("config - parses every documented variable", () => {
  const c = loadConfig({
    PORT: "9000",
    SECRET: "s".repeat(32),
    ADMIN_PASSWORD: "correct horse battery",
    WEBHOOK_SECRET: "a".repeat(16) + ", " + "b".repeat(16),
    KV_PATH: ":memory:",
    REDIS_URL: "redis://127.0.0.1:6379",
    WHITELISTED_DOMAINS: "example.com, *.example.org",
    PUBLIC_TRAITS: "email,traits_plan,,email",
    PUBLIC_SEGMENTS: "seg_a",
    PUBLIC_ACCOUNT_SEGMENTS: "aseg_b",
    USER_FILTER_SEGMENTS: "seg_c",
  });
  assert.equal(c.port, 9000);
  assert.equal(c.webhookSecrets.length, 2);
  assert.equal(c.kvPath, ":memory:");
  assert.equal(c.redisUrl, "redis://127.0.0.1:6379");
  assert.deepEqual(c.seed.domains.map((d) => d.raw), ["example.com", "*.example.org"]);
  assert.deepEqual(c.seed.settings, {
    public_traits: ["email", "traits_plan"],
    public_segments: ["seg_a"],
    public_account_segments: ["aseg_b"],
    user_filter_segments: ["seg_c"],
    identity_mode: "off",
    anonymous_traits: [],
    anonymous_segments: [],
    anonymous_account_segments: [],
  });
});

Deno.test("config - identity verification settings and abuse limits", () => {
  const c = loadConfig({
    IDENTITY_SECRET: "i".repeat(32),
    ANONYMOUS_TRAITS: "traits_plan",
    LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "5",
    LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE: "7",
    LIMITS_MODE: "observe",
    TRUST_PROXY: "true",
  });
  assert.equal(c.seed.settings.identity_mode, "required", "a secret defaults to required");
  assert.deepEqual(c.seed.settings.anonymous_traits, ["traits_plan"]);
  assert.equal(c.limits.connectionsPerIpPerMinute, 5);
  assert.equal(c.limits.connectionsPerConnectorPerMinute, 7);
  assert.equal(loadConfig({}).limits.connectionsPerConnectorPerMinute, 6000);
  assert.match(
    problems({ LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE: "-1" }).join(),
    /LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE must be a positive integer/,
  );
  assert.equal(c.limits.mode, "observe");
  assert.equal(c.trustProxy.hops, 1, "true trusts one proxy");
  assert.equal(
    loadConfig({ IDENTITY_SECRET: "i".repeat(32), IDENTITY_MODE: "report" }).seed.settings
      .identity_mode,
    "report",
  );
  const p = problems({
    IDENTITY_MODE: "required",
    LIMIT_ROOMS_PER_SOCKET: "0",
    LIMITS_MODE: "maybe",
  });
  assert.equal(p.length, 3, p.join("\n"));
  assert.match(p[0], /IDENTITY_MODE=required needs IDENTITY_SECRET/);
});

Deno.test("config - a malformed WHITELISTED_DOMAINS entry is named", () => {
  const p = problems({ WHITELISTED_DOMAINS: "example.com, exa mple.org" });
  assert.equal(p.length, 1);
  assert.match(p[0], /WHITELISTED_DOMAINS/);
  assert.match(p[0], /exa mple\.org/);
});

Deno.test("config - SECRET is required in production and on Deno Deploy", () => {
  assert.match(problems({ NODE_ENV: "production" }).join(), /SECRET is required/);
  assert.match(problems({ DENO_DEPLOY: "1" }).join(), /SECRET is required/);
  assert.deepEqual(problems({ NODE_ENV: "production", SECRET: "x".repeat(32) }), []);
});

Deno.test("config - every problem is reported at once", () => {
  const p = problems({
    PORT: "http",
    SECRET: "short",
    WEBHOOK_SECRET: "short",
    HULL_PUBLIC_KEY: "not a pem",
    REDIS_URL: "localhost:6379",
  });
  assert.equal(p.length, 5, p.join("\n"));
  for (const name of ["PORT", "SECRET", "WEBHOOK_SECRET", "HULL_PUBLIC_KEY", "REDIS_URL"]) {
    assert.ok(p.some((m) => m.startsWith(name)), `${name} named`);
  }
});

Deno.test("config - HULL_PUBLIC_KEY accepts escaped newlines from env files", async () => {
  const { publicKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const c = loadConfig({ HULL_PUBLIC_KEY: pem.trim().replaceAll("\n", "\\n") });
  assert.equal(c.hullPublicKey?.trim(), pem.trim());
});

Deno.test("config - HULL_PUBLIC_KEY that looks like a PEM but is no RSA key is named", async () => {
  for (
    const pem of [
      "-----BEGIN PUBLIC KEY-----garbage-----END PUBLIC KEY-----",
      "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ]
  ) {
    const p = problems({ HULL_PUBLIC_KEY: pem });
    assert.equal(p.length, 1, pem);
    assert.match(p[0], /^HULL_PUBLIC_KEY looks like a PEM .* but cannot be read/);
  }
  const { publicKey } = await generateKeyPair("ES256", { extractable: true });
  assert.match(
    problems({ HULL_PUBLIC_KEY: await exportSPKI(publicKey) }).join(),
    /^HULL_PUBLIC_KEY must be an RSA key/,
  );
});

Deno.test("config - booleans take true/false/1/0/yes/no in any case, and nothing else", () => {
  for (const yes of ["true", "TRUE", "1", "yes", "Yes", " on "]) {
    assert.equal(loadConfig({ TRUST_PROXY: yes }).trustProxy.hops, 1, yes);
  }
  for (const no of ["false", "FALSE", "0", "no", "NO", "off", ""]) {
    const c = loadConfig({ TRUST_PROXY: no });
    assert.equal(c.trustProxy.hops, 0, no);
    assert.equal(c.trustProxy.proxies, null, no);
  }
  for (const junk of ["ye", "treu", "enabled", "-1"]) {
    const p = problems({ TRUST_PROXY: junk });
    assert.equal(p.length, 1, p.join("\n"));
    assert.match(p[0], /^TRUST_PROXY /);
  }
});

Deno.test("config - TRUST_PROXY takes a number of proxies or their addresses", () => {
  assert.equal(loadConfig({ TRUST_PROXY: "2" }).trustProxy.hops, 2);
  const list = loadConfig({ TRUST_PROXY: "10.0.0.0/8, 192.168.1.7,fd00::/8" }).trustProxy;
  assert.ok(list.proxies?.check("192.168.1.7") && !list.proxies.check("192.168.1.8"));
  for (const bad of ["11", "10.0.0.0/33", "10.0.0.0/8/1", "proxy.example.com", "1.2.3.4,x"]) {
    const p = problems({ TRUST_PROXY: bad });
    assert.equal(p.length, 1, bad);
    assert.match(p[0], /^TRUST_PROXY /);
  }
});

Deno.test("config - ADMIN_PASSWORD is at least 12 characters", () => {
  assert.match(problems({ ADMIN_PASSWORD: "a" }).join(), /^ADMIN_PASSWORD must be at least 12/);
  assert.equal(problems({ ADMIN_PASSWORD: "elevenchars" }).length, 1);
  assert.equal(loadConfig({ ADMIN_PASSWORD: "twelve chars" }).adminPassword, "twelve chars");
  assert.equal(loadConfig({ ADMIN_PASSWORD: "" }).adminPassword, null, "empty: no dashboard");
});

Deno.test("config - REDIS_URL and BIND_ADDRESS that cannot work are named", () => {
  assert.match(problems({ REDIS_URL: "redis://[bad" }).join(), /^REDIS_URL must be a URL/);
  assert.match(problems({ BIND_ADDRESS: "notanaddress" }).join(), /^BIND_ADDRESS must be/);
  assert.equal(loadConfig({ BIND_ADDRESS: "::" }).hostname, "::");
});

Deno.test("config - each problem is one line naming its variable, whatever the value", () => {
  try {
    loadConfig({ PORT: "80\n81", LIMITS_MODE: "a\r\nb", ADMIN_PASSWORD: "short" });
    assert.fail("accepted");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const lines = err.message.split("\n");
    assert.equal(lines.length, 3, err.message);
    assert.match(lines[0], /^PORT .*"80\\n81"/);
    assert.match(lines[1], /^LIMITS_MODE /);
    assert.match(lines[2], /^ADMIN_PASSWORD /);
  }
});

Deno.test("config - parseList trims, drops empties and duplicates", () => {
  assert.deepEqual(parseList(" a, b ,,a, c "), ["a", "b", "c"]);
  assert.deepEqual(parseList(undefined), []);
});

Deno.test("config - WS_ENGINE picks native frames by default, ws on request, nothing else", () => {
  assert.equal(loadConfig({}).wsEngine, "native");
  assert.equal(loadConfig({ WS_ENGINE: "ws" }).wsEngine, "ws");
  assert.match(problems({ WS_ENGINE: "uws" }).join(), /WS_ENGINE must be "native" or "ws"/);
});

Deno.test("config - WEBHOOK_WORKERS: unset means by core count; 0 to 32 taken; else boot stops", () => {
  assert.equal(loadConfig({}).webhookWorkers, null);
  assert.equal(loadConfig({ WEBHOOK_WORKERS: "0" }).webhookWorkers, 0);
  assert.equal(loadConfig({ WEBHOOK_WORKERS: " 3 " }).webhookWorkers, 3);
  for (const bad of ["-1", "33", "1.5", "two"]) {
    assert.match(
      problems({ WEBHOOK_WORKERS: bad }).join(),
      /WEBHOOK_WORKERS must be an integer from 0 to 32/,
      bad,
    );
  }
});

Deno.test("config - on Deno Deploy pages name https:// (its edge serves nothing else)", () => {
  const c = loadConfig({ DENO_DEPLOY: "1", SECRET: "s".repeat(32) });
  assert.equal(c.trustProxy.httpsOnly, true);
  assert.equal(c.trustProxy.hops, 0, "forwarded headers still need TRUST_PROXY");
  assert.equal(loadConfig({}).trustProxy.httpsOnly, undefined);
});
