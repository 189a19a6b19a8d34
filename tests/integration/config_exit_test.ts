/**
 * `main.ts` as a real process with a bad environment: every bad value is one line on stderr
 * naming its variable and exit code 1, never a stack trace, whether the value is refused while
 * the configuration is read or only when the server opens its store or binds its address.
 */
import assert from "node:assert/strict";
import { SECRET } from "../helpers/server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** A guard only: a process that boots instead of refusing is killed and the test fails. */
const GUARD_MS = 30_000;

async function runMain(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        PORT: "0",
        BIND_ADDRESS: "127.0.0.1",
        SECRET,
        KV_PATH: kvPath,
        NO_COLOR: "1",
        ...env,
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(GUARD_MS),
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(kvPath).catch(() => {});
  }
}

const CASES: [variable: string, env: Record<string, string>][] = [
  ["PORT", { PORT: "http" }],
  ["HULL_PUBLIC_KEY", {
    HULL_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----junk-----END PUBLIC KEY-----",
  }],
  ["KV_PATH", { KV_PATH: "/nonexistent-dir/hull-browser.sqlite" }],
  ["REDIS_URL", { REDIS_URL: "redis://[bad" }],
  ["BIND_ADDRESS", { BIND_ADDRESS: "not-an-address" }],
  // Not an address of this machine: refused by listen(), not by the configuration.
  ["BIND_ADDRESS", { BIND_ADDRESS: "192.0.2.1" }],
  ["TRUST_PROXY", { TRUST_PROXY: "maybe" }],
  ["ADMIN_PASSWORD", { ADMIN_PASSWORD: "a" }],
];

for (const [variable, env] of CASES) {
  Deno.test({
    name: `main - ${variable}=${Object.values(env)[0]} is one line naming it, and exit 1`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const { code, stderr } = await runMain(env);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.ok(lines[0].startsWith(variable), stderr);
      assert.doesNotMatch(stderr, /\bat .*:\d+:\d+|Uncaught/, "no stack trace");
      assert.equal(code, 1, stderr);
    },
  });
}
