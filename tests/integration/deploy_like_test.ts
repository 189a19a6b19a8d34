/**
 * `main.ts` run the way Deno Deploy runs it, as far as one machine can: after the build
 * (`deno task test` runs `deno task build` first, as Deploy's build command does), with
 * read, net, env and sys permissions only (`--deny-write --deny-run`), `DENO_DEPLOY` set (so
 * SECRET is required), websocket-only clients, and eviction by SIGINT.
 *
 * KV is `:memory:` through KV_PATH: a file-backed KV needs write permission even when the file
 * exists (`Deno.openKv(path)` fails with NotCapable under --deny-write), and on Deploy the
 * attached database is not a file anyway. What the platform itself adds (its KV database,
 * builder, proxy, isolates) is not reproduced here; see docs/deploy.md.
 */
import assert from "node:assert/strict";
import { io, type Socket } from "socket.io-client";
import { signHmac } from "../../lib/webhook/signature.ts";
import { bootMain, type MainProcess } from "../helpers/process.ts";
import { fixture, SECRET, WEBHOOK_SECRET } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** What the server may do on Deploy, as permission flags: nothing written, nothing spawned. */
const DEPLOY_FLAGS = [
  "--allow-read",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--deny-write",
  "--deny-run",
  "--no-prompt",
];
const ADMIN_PASSWORD = "deploy-like-admin-password";
/** The variables docs/deploy.md tells a Deploy user to set, plus what Deploy sets itself. */
const DEPLOY_ENV = {
  DENO_DEPLOY: "true",
  DENO_DEPLOYMENT_ID: "deploylike1",
  KV_PATH: ":memory:",
  SECRET,
  WEBHOOK_SECRET,
  ADMIN_PASSWORD,
  WHITELISTED_DOMAINS: "localhost",
  PUBLIC_TRAITS: "email,traits_seq",
};

/** A signed user:update for the fixture user (external_id user-1001) carrying `seq`. */
async function signedUpdate(seq: number): Promise<{ raw: string; signature: string }> {
  const base = await fixture<Record<string, unknown>>("user-update.json");
  const message = (base.messages as Record<string, unknown>[])[0];
  const raw = JSON.stringify({
    ...base,
    notification_id: crypto.randomUUID(),
    messages: [{ ...message, user: { ...message.user as object, traits_seq: seq } }],
  });
  return { raw, signature: await signHmac(WEBHOOK_SECRET, raw) };
}

/** Resolves with the `traits.seq` of the first user.update whose seq is `seq`. */
function updateWithSeq(socket: Socket, seq: number, ms = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no user.update with seq ${seq}`)), ms);
    socket.on("user.update", (p: { user: { traits?: { seq?: number } } }) => {
      if (p.user.traits?.seq !== seq) return;
      clearTimeout(t);
      resolve(seq);
    });
  });
}

async function identified(url: string): Promise<Socket> {
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    extraHeaders: { origin: "http://localhost" },
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  const joined = new Promise((resolve) => socket.once("room.joined", resolve));
  socket.emit("user.fetch", { claims: { external_id: "user-1001" } });
  await joined;
  return socket;
}

/** True when a new TCP connection to `port` is refused. */
async function refuses(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

Deno.test({
  name: "deploy-like - without SECRET the boot fails with one line naming SECRET",
  ...opts,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...DEPLOY_FLAGS, MAIN],
      // An empty SECRET is an unset one (and keeps one from this shell out of the child).
      env: { ...DEPLOY_ENV, SECRET: "", PORT: "0", BIND_ADDRESS: "127.0.0.1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /SECRET is required in production \(DENO_DEPLOY/);
    assert.doesNotMatch(stderr, /^\s+at /m, "a message, not a stack trace");
    assert.doesNotMatch(stdout, /listening/);
  },
});

Deno.test({
  name: "deploy-like - with read, net, env and sys only, the built server serves and evicts",
  ...opts,
  async fn(t) {
    const main: MainProcess = await bootMain(DEPLOY_ENV, DEPLOY_FLAGS);
    const { url, port, child } = main;
    let socket: Socket | null = null;
    try {
      await t.step("healthz - ok, with the snippet built", async () => {
        const res = await fetch(`${url}/healthz`);
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.status, "ok");
        assert.equal(body.snippet, "ok");
        assert.match(body.instance, /^deploy-deploylike1-/);
      });

      await t.step("snippet - GET /hull-browser.js is the built bundle", async () => {
        const res = await fetch(`${url}/hull-browser.js`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
        const js = await res.text();
        assert.ok(js.length > 10_000, `bundle of ${js.length} bytes`);
        assert.doesNotMatch(js, /snippet not built/);
      });

      await t.step("webhook - a signed update reaches a websocket-only socket", async () => {
        socket = await identified(url);
        const pushed = updateWithSeq(socket, 1);
        const { raw, signature } = await signedUpdate(1);
        const res = await fetch(`${url}/smart-notifier`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-hull-browser-signature": signature },
          body: raw,
        });
        assert.equal(res.status, 200);
        assert.equal((await res.json()).flow_control.type, "next");
        assert.equal(await pushed, 1);
      });

      await t.step("dashboard - ADMIN_PASSWORD logs in and /admin renders", async () => {
        const login = await fetch(`${url}/admin/login`, {
          method: "POST",
          body: new URLSearchParams({ password: ADMIN_PASSWORD }),
          redirect: "manual",
        });
        assert.equal(login.status, 303);
        await login.body?.cancel();
        const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
        assert.match(cookie, /^hb_session=/);
        const page = await fetch(`${url}/admin`, { headers: { cookie } });
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<html/i);
        const islands = await fetch(`${url}/static/build/islands.js`);
        assert.equal(islands.status, 200);
        await islands.body?.cancel();
      });

      await t.step("eviction - SIGINT finishes a webhook accepted just before it", async () => {
        const s = socket!;
        const pushed = updateWithSeq(s, 2);
        const disconnected = new Promise<string>((r) => s.once("disconnect", r));
        const { raw, signature } = await signedUpdate(2);
        const body = new TextEncoder().encode(raw);
        const head = `POST /smart-notifier HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.byteLength}\r\n` +
          `X-Hull-Browser-Signature: ${signature}\r\nExpect: 100-continue\r\n` +
          `Connection: close\r\n\r\n`;
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
        let answer = "";
        const readUntil = async (done: () => boolean) => {
          while (!done()) {
            const chunk = await reader.read();
            if (chunk.done) break;
            answer += chunk.value;
          }
        };
        const writer = conn.writable.getWriter();
        await writer.write(new TextEncoder().encode(head));
        // "100 Continue" comes once the handler reads the body: the request is under way (its
        // headers taken, half its body sent) when SIGINT arrives.
        await readUntil(() => answer.includes("\r\n\r\n"));
        assert.match(answer, /^HTTP\/1\.1 100 /, answer.slice(0, 200));
        answer = "";
        await writer.write(body.subarray(0, body.byteLength >> 1));
        child.kill("SIGINT");
        await waitFor(() => refuses(port), {
          what: "the evicted instance stops accepting connections",
        });
        await writer.write(body.subarray(body.byteLength >> 1));
        await readUntil(() => false);
        assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 200));
        assert.match(answer, /"flow_control"/);
        assert.equal(await pushed, 2, "the accepted webhook's push reached the socket");
        assert.ok((await disconnected).length > 0);
        assert.equal((await child.status).code, 0);
        assert.match(main.stdout(), /SIGINT: shutting down/);
      });
    } finally {
      (socket as Socket | null)?.close();
      try {
        child.kill();
      } catch { /* exited */ }
      await child.status;
      const stderr = await new Response(child.stderr).text();
      // Nothing was refused a permission and nothing was missing at boot; KV_PATH (which a
      // real Deploy app leaves unset) was named.
      assert.doesNotMatch(stderr, /NotCapable|Requires (write|run) access|not built/, stderr);
      assert.match(stderr, /KV_PATH is set on Deno Deploy/);
    }
  },
});
