/**
 * Every refusal on a real server: origins that are not whitelisted, webhooks that are forged,
 * stale, malformed or oversized, and hostile socket payloads. None may change state.
 */
import assert from "node:assert/strict";
import { signHmac } from "../../lib/webhook/signature.ts";
import {
  freshFixture,
  identify,
  once,
  startTestServer,
  type TestServer,
  WEBHOOK_SECRET,
} from "../helpers/server.ts";
import { adaWith } from "../helpers/marker.ts";
import { ioV2 } from "../helpers/v2_client.ts";
import { waitFor } from "../helpers/wait.ts";
import { io as ioClient } from "socket.io-client";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** True when the store holds a profile for Ada (the user-update fixture). */
async function adaStored(t: TestServer): Promise<boolean> {
  const { hasher, store } = t.server.ctx.webhook;
  const key = await hasher.hash({ type: "external_id", value: "user-1001" });
  return (await store.lookupUserId([key])) !== null;
}

async function connectResult(t: TestServer, origin: string | null): Promise<string> {
  const s = t.connect(origin);
  try {
    return await new Promise<string>((resolve) => {
      s.once("connect", () => resolve("connected"));
      s.once("connect_error", (e: Error) => resolve(`refused: ${e.message}`));
    });
  } finally {
    s.close();
  }
}

Deno.test({
  name: "origin check - refuses other origins, a missing Origin and the suffix trick",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      assert.equal(await connectResult(t, "http://localhost:3000"), "connected");
      assert.equal(await connectResult(t, "https://shop.example.com"), "connected");
      for (
        const origin of [
          "https://evil.net",
          null,
          "https://example.com.evil.net",
          "https://evilexample.com",
          "null",
        ]
      ) {
        assert.match(await connectResult(t, origin), /^refused/, String(origin));
      }
      // Polling transport is refused at the handshake too (no socket is ever created).
      const res = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, {
        headers: { origin: "https://evil.net" },
      });
      assert.equal(res.status, 403);
      await res.body?.cancel();
      assert.equal(t.server.io.engine.clientsCount, 0);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "origin check - a browser is told why: the origin, or that file:// pages cannot connect",
  ...opts,
  async fn() {
    const t = await startTestServer();
    // A browser cannot read a refused upgrade's answer, so its handshake goes on to the
    // namespace middleware, which refuses it with the reason (before any socket exists).
    const asBrowser = async (origin: string) => {
      const s = ioClient(t.url, {
        transports: ["websocket"],
        reconnection: false,
        forceNew: true,
        extraHeaders: { origin, "user-agent": "Mozilla/5.0 (test)" },
      });
      try {
        return await new Promise<{ message: string; data: unknown }>((resolve) => {
          s.once("connect", () => resolve({ message: "connected", data: null }));
          s.once(
            "connect_error",
            (e: Error & { data?: unknown }) => resolve({ message: e.message, data: e.data }),
          );
        });
      } finally {
        s.close();
      }
    };
    try {
      assert.deepEqual(await asBrowser("https://evil.net"), {
        message: "origin https://evil.net is not whitelisted: add its domain in the dashboard " +
          "(Domains)",
        data: { reason: "origin", origin: "https://evil.net" },
      });
      const file = await asBrowser("null");
      assert.match(file.message, /^pages opened from file:\/\/ cannot connect/);
      assert.deepEqual(file.data, { reason: "file", origin: "null" });
      assert.equal(t.server.io.of("/").sockets.size, 0, "no refused socket reached connection");
      assert.equal(t.server.ctx.metrics.counters.refused_connections, 2);
      assert.equal((await asBrowser("http://localhost:3000")).message, "connected");
    } finally {
      await t.close();
    }
  },
});

async function postRaw(
  t: TestServer,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
) {
  const res = await fetch(`${t.url}/smart-notifier`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, body: await res.json() };
}

Deno.test({
  name:
    "webhook - forged, unsigned, stale, malformed, wrong-shape and oversized bodies change nothing",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const s = await identify(t, { external_id: "user-1001" });
      const pushes: unknown[] = [];
      s.on("user.update", (p) => pushes.push(p));

      const body = JSON.stringify(await freshFixture("user-update.json"));
      const now = Math.floor(Date.now() / 1000);
      const cases: [string, number, string | Uint8Array<ArrayBuffer>, Record<string, string>][] = [
        ["unsigned", 401, body, {}],
        ["forged", 401, body, {
          "x-hull-browser-signature": await signHmac("wrong-secret-0123456789", body),
        }],
        ["stale", 401, body, {
          "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, body, now - 301),
        }],
        ["future", 401, body, {
          "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, body, now + 400),
        }],
        ["tampered", 401, body.replace("pro", "enterprise"), {
          "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, body),
        }],
        ["garbage header", 401, body, { "x-hull-browser-signature": "nonsense" }],
        ["jwt without configured key", 401, body, { "x-hull-smart-notifier-signature": "a.b.c" }],
      ];
      const notJson = "{not json";
      cases.push(["not json", 400, notJson, {
        "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, notJson),
      }]);
      for (
        const shape of [
          "[]",
          "{}",
          JSON.stringify({ notification_id: "x", channel: "user:update" }),
          JSON.stringify({ notification_id: 5, channel: "user:update", messages: [] }),
          JSON.stringify({ notification_id: "z", channel: "user:update", messages: {} }),
        ]
      ) {
        cases.push([`shape ${shape.slice(0, 40)}`, 400, shape, {
          "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, shape),
        }]);
      }
      const huge = new Uint8Array(20 * 1024 * 1024 + 10).fill(32);
      cases.push(["oversized", 413, huge, { "x-hull-browser-signature": "t=1,v1=00" }]);

      for (const [name, status, raw, headers] of cases) {
        const res = await postRaw(t, raw, headers);
        assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
        assert.equal(typeof res.body.error, "string", `${name} explains the refusal`);
        assert.ok(!JSON.stringify(res.body).includes(WEBHOOK_SECRET), "secret never echoed");
      }
      assert.equal(await adaStored(t), false, "no refused webhook stored anything");
      // A valid update is the marker: a push a refused webhook caused would come before it.
      assert.equal(
        (await t.postNotification(await adaWith({ traits_plan: "marker" }))).status,
        200,
      );
      await waitFor(() => pushes.length, { what: "the marker's push" });
      assert.deepEqual(
        (pushes as { user: { traits: { plan: string } } }[]).map((p) => p.user.traits.plan),
        ["marker"],
        "no refused webhook pushed anything",
      );
      assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook - a replayed notification_id is acknowledged but not applied twice",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const s = await identify(t, { external_id: "user-1001" });
      const pushes: unknown[] = [];
      s.on("user.update", (p) => pushes.push(p));
      const body = await freshFixture("user-update.json");
      assert.equal((await t.postNotification(body)).status, 200);
      const replay = await t.postNotification(body);
      assert.equal(replay.status, 200);
      assert.equal((await replay.json()).flow_control.type, "next");
      // A later update is the marker: a second push of the replay would come before it.
      assert.equal(
        (await t.postNotification(await adaWith({ traits_plan: "marker" }))).status,
        200,
      );
      await waitFor(() => pushes.length >= 2, { what: "the marker's push" });
      assert.deepEqual(
        (pushes as { user: { traits: { plan: string } } }[]).map((p) => p.user.traits.plan),
        ["pro", "marker"],
        "the replay pushed nothing",
      );
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook - ship:update and segment:update are acknowledged, unknown channels ignored",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      for (const channel of ["ship:update", "segment:update", "account:update"]) {
        const body = { ...(await freshFixture("ship-update.json")), channel };
        const res = await t.postNotification(body);
        assert.equal(res.status, 200, channel);
        assert.equal((await res.json()).flow_control.type, "next");
      }
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "socket - hostile user.fetch payloads get close{message} and leave the server healthy",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const deep: Record<string, unknown> = {};
      let cur = deep;
      for (let i = 0; i < 500; i++) cur = (cur.a = {}) as Record<string, unknown>;
      const hostile: unknown[] = [
        null,
        "string",
        42,
        [],
        { claims: null },
        { claims: "ada@example.com" },
        { claims: [] },
        { claims: {} },
        { claims: { email: 42 } },
        { claims: { email: { $gt: "" } } },
        { claims: { email: "x".repeat(10_000) } },
        { claims: JSON.parse('{"__proto__": {"polluted": true}}') },
        { claims: { email: "a@b.c" }, hash: { no: 1 } },
        { claims: deep },
      ];
      for (const payload of hostile) {
        const s = t.connect();
        await once(s, "connect");
        const closed = once<{ message: string }>(s, "close");
        const disconnected = once(s, "disconnect");
        s.emit("user.fetch", payload);
        const msg = await closed;
        assert.equal(typeof msg.message, "string", JSON.stringify(payload)?.slice(0, 60));
        await disconnected;
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      // A message over the size limit drops that connection only.
      const big = t.connect();
      await once(big, "connect");
      const gone = once(big, "disconnect");
      big.emit("user.fetch", { claims: { email: "a@b.c" }, pad: "x".repeat(200_000) });
      await gone;
      const ok = t.connect();
      await once(ok, "connect");
      const joined = once(ok, "room.joined");
      ok.emit("user.fetch", { claims: { email: "ada@example.com" } });
      await joined;
      assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "socket - a socket cannot join more than the identifier cap",
  ...opts,
  async fn() {
    const t = await startTestServer();
    try {
      const s = t.connect();
      await once(s, "connect");
      const closed = once<{ message: string }>(s, "close");
      for (let i = 0; i < 20; i++) s.emit("user.fetch", { claims: { anonymous_id: `anon-${i}` } });
      assert.match((await closed).message, /too many identifiers/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "socket - v2 clients of the original snippet identify and receive pushes (allowEIO3)",
  ...opts,
  async fn() {
    const t = await startTestServer();
    const s = ioV2(t.url, "http://localhost:3000");
    try {
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
        s.once("error", reject);
      });
      const joined = new Promise((r) => s.once("room.joined", r));
      s.emit("user.fetch", { claims: { email: "ada@example.com" } });
      await joined;
      const update = new Promise<{ user: { id: string } }>((r) => s.once("user.update", r));
      await t.postNotification(await freshFixture("user-update.json"));
      assert.equal((await update).user.id, "5f00000000000000000000a1");
      // v2 refuses a foreign origin too
      const bad = ioV2(t.url, "https://evil.net");
      const refused = await new Promise<boolean>((r) => {
        bad.once("connect", () => r(false));
        bad.once("connect_error", () => r(true));
        bad.once("error", () => r(true));
      });
      bad.close();
      assert.equal(refused, true);
    } finally {
      s.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook - Hull's RS256 smart-notifier signature is verified against the pinned key",
  ...opts,
  async fn() {
    const { SignJWT, exportSPKI, generateKeyPair } = await import("jose");
    const hull = await generateKeyPair("RS256", { extractable: true });
    const attacker = await generateKeyPair("RS256", { extractable: true });
    const t = await startTestServer({
      env: { WEBHOOK_SECRET: "", HULL_PUBLIC_KEY: await exportSPKI(hull.publicKey) },
    });
    const sign = (key: CryptoKey, jti: string) =>
      new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setJti(jti).setIssuedAt()
        .setExpirationTime("5m").sign(key);
    const post = async (raw: string, token: string) => {
      const res = await fetch(`${t.url}/smart-notifier`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hull-smart-notifier-signature": token },
        body: raw,
      });
      return { status: res.status, body: await res.json() };
    };
    try {
      const body = await freshFixture("user-update.json");
      const raw = JSON.stringify(body);
      const id = body.notification_id as string;
      assert.equal((await post(raw, await sign(attacker.privateKey, id))).status, 401);
      assert.equal((await post(raw, await sign(hull.privateKey, "other-id"))).status, 401);
      assert.equal((await post("{oops", await sign(attacker.privateKey, id))).status, 401);
      assert.equal((await post("{oops", await sign(hull.privateKey, id))).status, 400);
      assert.equal(await adaStored(t), false, "refused requests stored nothing");
      assert.deepEqual(await t.server.ctx.store.listConnectors(), [], "nor registered");
      const ok = await post(raw, await sign(hull.privateKey, id));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      // Applied in the scope of the connector the body names (registered by it).
      const connector = (await t.server.ctx.connectors.get(
        (body.configuration as { id: string }).id,
        true,
      ))!;
      const key = await t.server.ctx.webhook.hasher.hash({
        type: "external_id",
        value: "user-1001",
      });
      assert.notEqual(await connector.store.lookupUserId([key]), null);
      // HMAC is not configured on this server, so that header alone is refused.
      const hmac = await postRaw(t, raw, {
        "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, raw),
      });
      assert.equal(hmac.status, 401);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "webhook - signatures from a rotated secret and several v1 values are accepted",
  ...opts,
  async fn() {
    const oldSecret = "old-webhook-secret-0123456789";
    const t = await startTestServer({
      env: { WEBHOOK_SECRET: `${WEBHOOK_SECRET},${oldSecret}` },
    });
    try {
      for (const secret of [WEBHOOK_SECRET, oldSecret]) {
        const raw = JSON.stringify(await freshFixture("ship-update.json"));
        const res = await postRaw(t, raw, {
          "x-hull-browser-signature": await signHmac(secret, raw),
        });
        assert.equal(res.status, 200);
      }
      const raw = JSON.stringify(await freshFixture("ship-update.json"));
      const t0 = Math.floor(Date.now() / 1000);
      const good = (await signHmac(oldSecret, raw, t0)).split(",")[1];
      const bad = (await signHmac("not-the-secret-0123456789", raw, t0)).split(",")[1];
      const header = `t=${t0},${bad},${good}`;
      const res = await postRaw(t, raw, { "x-hull-browser-signature": header });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    } finally {
      await t.close();
    }
  },
});
