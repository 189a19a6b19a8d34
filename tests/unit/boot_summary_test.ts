import assert from "node:assert/strict";
import { bootFailureMessage } from "../../lib/boot_failure.ts";
import { bootSummary, listeningLine, lostSeeds, lostSeedsLine } from "../../lib/boot_summary.ts";
import { loadConfig } from "../../lib/config.ts";
import { StoreUnavailableError } from "../../lib/store/factory.ts";
import type { StoredConfig } from "../../lib/store/store.ts";

const SECRET = "boot-summary-secret-0123456789";
const IDENTITY_SECRET = "identity-secret-0123456789";

/** What an empty store holds after seeding `env`. */
function seededFrom(env: Record<string, string>): StoredConfig {
  const config = loadConfig(env);
  return { settings: config.seed.settings, domains: config.seed.domains.map((d) => d.raw) };
}

Deno.test("boot summary - the bound address, with a link to open on this machine", () => {
  assert.equal(
    listeningLine("0.0.0.0", 8000, "h-1"),
    "hull-browser listening on http://0.0.0.0:8000 " +
      "(every interface; on this machine: http://localhost:8000; instance h-1)",
  );
  assert.match(listeningLine("::", 8000, "h-1"), /on http:\/\/\[::\]:8000 \(every interface;/);
  assert.equal(
    listeningLine("127.0.0.1", 9000, "h-1"),
    "hull-browser listening on http://127.0.0.1:9000 (instance h-1)",
  );
});

/** A real RSA public key as PEM, as Hull publishes its signing key. */
async function publicKeyPem(): Promise<string> {
  const { publicKey } = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const b64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n");
  return `-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----`;
}

Deno.test("boot summary - says what is off and why, and never prints credentials", async () => {
  const env = { SECRET, REDIS_URL: "redis://user:hunter2-password@redis.internal:6379/0" };
  const config = loadConfig(env);
  const text = bootSummary(config, 8000, env, { settings: config.seed.settings, domains: [] })
    .join("\n");
  assert.match(text, /dashboard: off: ADMIN_PASSWORD is not set/);
  assert.match(text, /WEBHOOK_SECRET is not set/);
  assert.match(text, /domains: +none whitelisted, so no page can connect yet/);
  assert.match(text, /store: +Redis at redis:\/\/redis\.internal:6379\/0/);
  assert.doesNotMatch(text, /hunter2|user:/);
  assert.match(text, /workers: +none: webhooks are applied in the isolate holding the sockets/);
  const two = bootSummary(config, 1, env, { settings: config.seed.settings, domains: [] }, 2);
  assert.match(
    two.join("\n"),
    /workers: +2 webhook workers: webhooks are applied beside the sockets/,
  );

  const pinned = loadConfig({
    SECRET,
    HULL_KEY_HOSTS: "none",
    HULL_PUBLIC_KEY: await publicKeyPem(),
  });
  const lines = bootSummary(pinned, 1, {}, { settings: pinned.seed.settings, domains: [] });
  assert.match(lines.join("\n"), /Hull-signed with the key pinned by HULL_PUBLIC_KEY/);
  const none = loadConfig({ SECRET, HULL_KEY_HOSTS: "none" });
  assert.match(
    bootSummary(none, 1, {}, { settings: none.seed.settings, domains: [] }).join("\n"),
    /no Hull-signed one either/,
  );
  const deploy = { SECRET, DENO_DEPLOY: "1" };
  assert.match(
    bootSummary(loadConfig(deploy), 1, deploy, { settings: none.seed.settings, domains: [] })
      .join("\n"),
    /Deno KV, the database attached to the app/,
  );
});

Deno.test("boot summary - lost seeds: only variables that are set and differ from the store", () => {
  const stored = seededFrom({ SECRET, WHITELISTED_DOMAINS: "a.com,b.com", PUBLIC_TRAITS: "email" });
  // Not set: never named, whatever the store holds.
  assert.deepEqual(lostSeeds(loadConfig({ SECRET }), { SECRET }, stored), []);
  // Same values in another order: nothing lost.
  const same = { SECRET, WHITELISTED_DOMAINS: "b.com,a.com", PUBLIC_TRAITS: "email" };
  assert.deepEqual(lostSeeds(loadConfig(same), same, stored), []);
  const changed = {
    SECRET,
    WHITELISTED_DOMAINS: "c.com",
    PUBLIC_TRAITS: "email",
    PUBLIC_SEGMENTS: "seg_vip",
    IDENTITY_SECRET,
    IDENTITY_MODE: "report",
  };
  const lost = lostSeeds(loadConfig(changed), changed, stored);
  assert.deepEqual(lost, ["WHITELISTED_DOMAINS", "PUBLIC_SEGMENTS", "IDENTITY_MODE"]);
  const [line] = lostSeedsLine(lost);
  assert.match(
    line,
    /^WHITELISTED_DOMAINS, PUBLIC_SEGMENTS, IDENTITY_MODE are set but ignored/,
  );
  assert.deepEqual(lostSeedsLine([]), []);
});

Deno.test("boot failure - failures an operator fixes are one line naming the variable; others are not caught", () => {
  const target = { hostname: "10.1.2.3", port: 8000 };
  const err = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
  assert.match(
    bootFailureMessage(err("EADDRINUSE"), target)!,
    /^PORT=8000 is already in use.*cannot listen on 10\.1\.2\.3:8000/,
  );
  assert.match(bootFailureMessage(err("EACCES"), target)!, /^PORT=8000 needs privileges/);
  assert.match(
    bootFailureMessage(err("EINVAL"), target)!,
    /^BIND_ADDRESS=10\.1\.2\.3 is not an address/,
  );
  assert.equal(
    bootFailureMessage(new StoreUnavailableError("Redis at redis://x is unreachable"), target),
    "Redis at redis://x is unreachable",
  );
  assert.equal(bootFailureMessage(new TypeError("a bug"), target), null);
});
