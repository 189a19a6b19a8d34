/**
 * The native WebSocket engine (lib/socket/ws_engine.ts) under the real connector: websocket,
 * polling, upgrade from polling, a v2 client, the Origin check, maxPayload, and what each
 * connection keeps of its upgrade request.
 */
import assert from "node:assert/strict";
import { io as ioClient, type Socket } from "socket.io-client";
import { NativeWebSocket } from "../../lib/socket/ws_engine.ts";
import { freshFixture, once, startTestServer, type TestServer } from "../helpers/server.ts";
import { ioV2 } from "../helpers/v2_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ORIGIN = "http://localhost:3000";
const ADA_ID = "5f00000000000000000000a1";

/** engine.io's view of the server-side connection of client `s`. */
function serverConn(t: TestServer, s: Socket) {
  const conn = (t.server.io.engine as unknown as {
    clients: Record<string, { transport: { name: string; socket?: unknown }; request: unknown }>;
  }).clients[s.io.engine.id];
  assert.ok(conn, "the server knows this connection");
  return conn;
}

/** Identifies `s` as Ada, posts her update and resolves with the pushed user id. */
async function identifyAndPush(t: TestServer, s: Socket): Promise<string> {
  if (!s.connected) await once(s, "connect");
  const joined = once(s, "room.joined");
  s.emit("user.fetch", { claims: { email: "ada@example.com" } });
  await joined;
  const update = once<{ user: { id: string }; version: number }>(s, "user.update");
  const res = await t.postNotification(await freshFixture("user-update.json"));
  assert.equal(res.status, 200);
  return (await update).user.id;
}

function client(t: TestServer, transports: string[], origin = ORIGIN): Socket {
  return ioClient(t.url, {
    transports,
    reconnection: false,
    forceNew: true,
    extraHeaders: { origin },
  });
}

Deno.test({
  name: "ws engine - websocket transport runs on a native WebSocket and keeps no request",
  ...opts,
  async fn() {
    const t = await startTestServer();
    const s = client(t, ["websocket"]);
    try {
      assert.equal(await identifyAndPush(t, s), ADA_ID);
      const conn = serverConn(t, s);
      assert.equal(conn.transport.name, "websocket");
      assert.ok(conn.transport.socket instanceof NativeWebSocket);
      // The IncomingMessage is replaced by a copy of what the handshake reads.
      const req = conn.request as { headers: Record<string, string>; constructor: unknown };
      assert.deepEqual(req.headers, { origin: ORIGIN });
      assert.equal(req.constructor, Object);
      const [remote] = await t.server.io.fetchSockets();
      assert.equal(remote.handshake.address, "127.0.0.1");
      assert.equal(remote.handshake.headers.origin, ORIGIN);
      // Both directions still work after the push: a second identify is answered.
      const joined = once(s, "room.joined");
      s.emit("user.fetch", { claims: { external_id: "ada-ext" } });
      await joined;
    } finally {
      s.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "ws engine - polling only, and an upgrade from polling to websocket",
  ...opts,
  async fn() {
    const t = await startTestServer();
    const polling = client(t, ["polling"]);
    const upgrading = client(t, ["polling", "websocket"]);
    try {
      assert.equal(await identifyAndPush(t, polling), ADA_ID);
      assert.equal(serverConn(t, polling).transport.name, "polling");

      if (!upgrading.connected) await once(upgrading, "connect");
      if (upgrading.io.engine.transport.name !== "websocket") {
        await new Promise((r) => upgrading.io.engine.once("upgrade", r));
      }
      // A round trip after the upgrade: the server has handled the client's upgrade packet.
      assert.equal(await identifyAndPush(t, upgrading), ADA_ID);
      const conn = serverConn(t, upgrading);
      assert.equal(conn.transport.name, "websocket");
      assert.ok(conn.transport.socket instanceof NativeWebSocket);
    } finally {
      polling.close();
      upgrading.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "ws engine - a socket.io v2 client (EIO 3) on websocket gets pushes",
  ...opts,
  async fn() {
    const t = await startTestServer();
    const s = ioV2(t.url, ORIGIN);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("connect_error", reject);
      });
      const engine = t.server.io.engine as unknown as {
        clients: Record<string, { protocol: number; transport: { socket?: unknown } }>;
      };
      const conn = engine.clients[s.io.engine.id];
      assert.equal(conn.protocol, 3);
      assert.ok(conn.transport.socket instanceof NativeWebSocket);
      const joined = new Promise((r) => s.once("room.joined", r));
      s.emit("user.fetch", { claims: { email: "ada@example.com" } });
      await joined;
      const update = new Promise<{ user: { id: string } }>((r) => s.once("user.update", r));
      await t.postNotification(await freshFixture("user-update.json"));
      assert.equal((await update).user.id, ADA_ID);
    } finally {
      s.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "ws engine - a foreign Origin is refused before any WebSocket is opened",
  ...opts,
  async fn() {
    const t = await startTestServer();
    const before = t.server.io.engine.clientsCount;
    // A raw upgrade, so the HTTP answer itself can be read.
    const ws = new WebSocket(
      t.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
      { headers: { origin: "https://evil.net" } } as unknown as string[],
    );
    try {
      const outcome = await new Promise<string>((r) => {
        ws.onopen = () => r("open");
        ws.onerror = () => r("refused");
      });
      assert.equal(outcome, "refused");
      assert.equal(t.server.io.engine.clientsCount, before);
      const s = client(t, ["websocket"], "https://evil.example.org");
      const err = await once<Error>(s, "connect_error");
      assert.ok(err instanceof Error);
      s.close();
    } finally {
      ws.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "ws engine - a message over maxHttpBufferSize closes the socket with 1009",
  ...opts,
  async fn() {
    const t = await startTestServer({
      env: { LIMIT_MESSAGE_BYTES: "2000", LIMITS_MODE: "enforce" },
    });
    const ws = new WebSocket(
      t.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
      { headers: { origin: ORIGIN } } as unknown as string[],
    );
    try {
      const frames: string[] = [];
      const connected = new Promise<void>((r) => {
        ws.onmessage = (e) => {
          frames.push(String(e.data));
          if (String(e.data).startsWith("0{")) ws.send("40");
          if (String(e.data).startsWith("40")) r();
        };
      });
      await connected;
      const closed = new Promise<number>((r) => ws.onclose = (e) => r(e.code));
      // Multi-byte characters: 900 chars but 2,700 bytes, over the 2,000-byte limit.
      ws.send(`42["user.fetch",{"claims":{"email":"${"€".repeat(900)}"}}]`);
      assert.equal(await closed, 1009);
      // A message just under the limit on a fresh socket is accepted.
      const s = client(t, ["websocket"]);
      await once(s, "connect");
      const joined = once(s, "room.joined");
      s.emit("user.fetch", { claims: { email: "ada@example.com" }, pad: "a".repeat(1800) });
      await joined;
      s.close();
    } finally {
      ws.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "ws engine - WS_ENGINE=ws keeps engine.io's own ws server, and pushes still arrive",
  ...opts,
  async fn() {
    const t = await startTestServer({ env: { WS_ENGINE: "ws" } });
    const s = client(t, ["websocket"]);
    try {
      assert.equal(await identifyAndPush(t, s), ADA_ID);
      const conn = serverConn(t, s);
      assert.equal(conn.transport.name, "websocket");
      assert.ok(!(conn.transport.socket instanceof NativeWebSocket));
    } finally {
      s.close();
      await t.close();
    }
  },
});
