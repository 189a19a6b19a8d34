/**
 * `main.ts` as a real process: boots from env, serves, and shuts down gracefully on SIGTERM
 * and SIGINT (Deno Deploy evicts with SIGINT), closing sockets and the store.
 */
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { bootMain } from "../helpers/process.ts";
import { SECRET, WEBHOOK_SECRET } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `main - ${signal} disconnects sockets, closes the store and exits 0`,
    ...opts,
    async fn() {
      const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
      const { child, url } = await bootMain({
        KV_PATH: kvPath,
        SECRET,
        WEBHOOK_SECRET,
        WHITELISTED_DOMAINS: "localhost",
      });
      const s = io(url, {
        transports: ["websocket"],
        reconnection: false,
        extraHeaders: { origin: "http://localhost" },
      });
      try {
        await new Promise<void>((resolve, reject) => {
          s.once("connect", () => resolve());
          s.once("connect_error", reject);
        });
        const health = await fetch(`${url}/healthz`);
        assert.equal((await health.json()).status, "ok");
        const disconnected = new Promise<string>((r) => s.once("disconnect", r));
        child.kill(signal);
        const reason = await disconnected;
        assert.ok(reason.length > 0);
        const status = await child.status;
        assert.equal(status.code, 0, `exit code after ${signal}`);
        const stderr = await new Response(child.stderr).text();
        assert.ok(!/error/i.test(stderr.replace(/SECRET/g, "")), stderr);
        // The store was closed cleanly: another process can open the same file at once.
        const kv = await Deno.openKv(kvPath);
        kv.close();
      } finally {
        s.close();
        try {
          child.kill();
        } catch { /* already exited */ }
      }
    },
  });
}

Deno.test({
  name: "main - an invalid configuration exits 1 and names the variable",
  ...opts,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: { PORT: "0", WHITELISTED_DOMAINS: "example.com,bad domain", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /WHITELISTED_DOMAINS/);
    assert.match(stderr, /bad domain/);
  },
});

/** Runs `main.ts` until it exits (it should fail to boot); returns its code and output. */
async function bootFails(env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Boots `main.ts`, stops it with SIGTERM, and returns what it printed. */
async function bootAndStop(env: Record<string, string>) {
  const proc = await bootMain(env);
  // An answer means main() ran to its end: the summary is printed, SIGTERM is handled.
  await (await fetch(`${proc.url}/healthz`)).body?.cancel();
  proc.child.kill("SIGTERM");
  await proc.child.status;
  return { stdout: proc.stdout(), stderr: await new Response(proc.child.stderr).text() };
}

Deno.test({
  name: "main - a port in use is one line on stderr, no stack trace, exit 1",
  ...opts,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    try {
      const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
      const run = await bootFails({
        PORT: String(port),
        BIND_ADDRESS: "127.0.0.1",
        KV_PATH: kvPath,
        SECRET,
      });
      assert.equal(run.code, 1);
      const lines = run.stderr.trim().split("\n");
      assert.equal(lines.length, 1, run.stderr);
      assert.match(
        lines[0],
        new RegExp(`^PORT=${port} is already in use.*127\\.0\\.0\\.1:${port}`),
      );
      assert.doesNotMatch(run.stderr, /^\s+at /m);
      assert.doesNotMatch(run.stdout, /listening on/);
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name: "main - the boot summary says where it listens, dashboard, webhook auth, domains, store",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const { stdout, stderr } = await bootAndStop({
      BIND_ADDRESS: "0.0.0.0",
      KV_PATH: kvPath,
      SECRET,
      WEBHOOK_SECRET,
      WHITELISTED_DOMAINS: "localhost,example.com",
    });
    const port = stdout.match(/listening on http:\/\/0\.0\.0\.0:(\d+)/)?.[1];
    assert.ok(port, stdout);
    assert.match(stdout, new RegExp(`on this machine: http://localhost:${port}; instance `));
    assert.match(stdout, /dashboard: off: ADMIN_PASSWORD is not set/);
    assert.match(stdout, /webhooks: +signed with WEBHOOK_SECRET \(1 secret\); Hull-signed/);
    assert.match(stdout, /domains: +2 whitelisted \(localhost, example\.com\)/);
    assert.ok(stdout.includes(`store:     Deno KV at ${kvPath} (KV_PATH)`), stdout);
    assert.doesNotMatch(stderr, /not applied/);

    const second = await bootAndStop({
      KV_PATH: kvPath,
      SECRET,
      ADMIN_PASSWORD: "a-long-admin-password",
    });
    assert.match(second.stdout, /listening on http:\/\/127\.0\.0\.1:\d+ \(instance /);
    assert.match(second.stdout, /dashboard: on at \/admin/);
    assert.match(second.stdout, /webhooks: +WEBHOOK_SECRET is not set/);
  },
});

Deno.test({
  name: "main - env seeds that lose to stored settings are named once; unset ones never",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const base = { KV_PATH: kvPath, SECRET };
    const first = await bootAndStop({ ...base, WHITELISTED_DOMAINS: "localhost" });
    assert.doesNotMatch(first.stderr, /not applied/);
    // No seed variable set: nothing to report, however often it restarts.
    const plain = await bootAndStop(base);
    assert.doesNotMatch(plain.stderr, /not applied/);
    // Same domains: nothing lost. Other traits: named, with where to change them.
    const same = await bootAndStop({ ...base, WHITELISTED_DOMAINS: "localhost" });
    assert.doesNotMatch(same.stderr, /not applied/);
    const changed = await bootAndStop({
      ...base,
      WHITELISTED_DOMAINS: "localhost",
      PUBLIC_TRAITS: "email",
    });
    const lines = changed.stderr.split("\n").filter((l) => /not applied/.test(l));
    assert.equal(lines.length, 1, changed.stderr);
    assert.match(lines[0], /^PUBLIC_TRAITS is set but ignored/);
    assert.doesNotMatch(lines[0], /WHITELISTED_DOMAINS/);
    assert.match(lines[0], /\/admin\/settings/);
  },
});
