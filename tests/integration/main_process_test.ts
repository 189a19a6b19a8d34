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
