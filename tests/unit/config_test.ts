import assert from "node:assert/strict";
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
    ADMIN_PASSWORD: "hunter2",
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
    LIMITS_MODE: "observe",
    TRUST_PROXY: "true",
  });
  assert.equal(c.seed.settings.identity_mode, "required", "a secret defaults to required");
  assert.deepEqual(c.seed.settings.anonymous_traits, ["traits_plan"]);
  assert.equal(c.limits.connectionsPerIpPerMinute, 5);
  assert.equal(c.limits.mode, "observe");
  assert.equal(c.trustProxy, true);
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

Deno.test("config - HULL_PUBLIC_KEY accepts escaped newlines from env files", () => {
  const c = loadConfig({
    HULL_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----",
  });
  assert.ok(c.hullPublicKey?.includes("\n"));
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

Deno.test("config - MEMORY_REDUCER is on by default, off on request, nothing else", () => {
  assert.equal(loadConfig({}).memoryReducer, true);
  assert.equal(loadConfig({ MEMORY_REDUCER: "off" }).memoryReducer, false);
  assert.match(
    problems({ MEMORY_REDUCER: "later" }).join(),
    /MEMORY_REDUCER must be "on" or "off"/,
  );
});
