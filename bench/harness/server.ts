/**
 * Test helper: a real connector on 127.0.0.1:0 with a temp-file Deno KV, plus a signed
 * webhook poster and a socket.io-client factory.
 */
import { io as ioClient, type Socket } from "socket.io-client";
import { loadConfig } from "../../lib/config.ts";
import { type RunningServer, type StartOptions, startServer } from "../../lib/server.ts";
import { signHmac } from "../../lib/webhook/signature.ts";

export const WEBHOOK_SECRET = "test-webhook-secret-0123456789";
export const SECRET = "test-server-secret-0123456789abcdef";

export const DEFAULT_ENV: Record<string, string> = {
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  SECRET,
  WEBHOOK_SECRET,
  WHITELISTED_DOMAINS: "localhost,127.0.0.1,*.example.com",
  PUBLIC_TRAITS: "email,traits_plan,name,account.name",
  PUBLIC_SEGMENTS: "seg_trial,seg_vip",
};

export interface TestServer {
  url: string;
  port: number;
  kvPath: string;
  server: RunningServer;
  /** Signs `body` with WEBHOOK_SECRET and posts it to /smart-notifier. */
  postNotification(body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Opens a real socket.io v4 client with the given Origin header (default localhost). */
  connect(origin?: string | null, opts?: { namespace?: string }): Socket;
  close(): Promise<void>;
}

/** Signs `body` (JSON, or a string as is) with WEBHOOK_SECRET and posts it to `url`/smart-notifier. */
export async function postSigned(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  return await fetch(`${url}/smart-notifier`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hull-browser-signature": await signHmac(WEBHOOK_SECRET, raw),
      ...headers,
    },
    body: raw,
  });
}

/** Starts a server; `kvPath` reuses a KV file (for restart tests), else a temp file. */
export async function startTestServer(
  opts: {
    env?: Record<string, string>;
    kvPath?: string;
    stdoutLog?: boolean;
    start?: StartOptions;
  } = {},
): Promise<TestServer> {
  const kvPath = opts.kvPath ?? await Deno.makeTempFile({ suffix: ".sqlite" });
  const config = loadConfig({ ...DEFAULT_ENV, KV_PATH: kvPath, ...opts.env });
  const server = await startServer(config, { stdoutLog: opts.stdoutLog ?? false, ...opts.start });
  const url = `http://127.0.0.1:${server.port}`;
  const sockets: Socket[] = [];
  return {
    url,
    port: server.port,
    kvPath,
    server,
    postNotification: (body, headers = {}) => postSigned(url, body, headers),
    connect(origin = "http://localhost:3000", o = {}) {
      const s = ioClient(url + (o.namespace ?? ""), {
        transports: ["websocket"],
        reconnection: false,
        forceNew: true,
        extraHeaders: origin === null ? {} : { origin },
      });
      sockets.push(s);
      return s;
    },
    async close() {
      for (const s of sockets) s.close();
      await server.close();
    },
  };
}

/** Resolves with the first `event` on `socket`, or rejects after `ms`. */
export function once<T = unknown>(socket: Socket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    socket.once(event, (data: T) => {
      clearTimeout(t);
      resolve(data);
    });
  });
}

/** Reads a Hull fixture from tests/fixtures/hull/. */
export async function fixture<T = Record<string, unknown>>(name: string): Promise<T> {
  const url = new URL(`../../tests/fixtures/hull/${name}`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

/** A fixture with a fresh notification_id, so replay protection does not drop it. */
export async function freshFixture(name: string): Promise<Record<string, unknown>> {
  return { ...(await fixture(name)), notification_id: crypto.randomUUID() };
}

/** Connects, sends `user.fetch` with `claims` and resolves once the rooms are joined. */
export async function identify(
  t: TestServer,
  claims: Record<string, unknown>,
  origin?: string,
): Promise<Socket> {
  const s = t.connect(origin);
  await once(s, "connect");
  const joined = once(s, "room.joined");
  s.emit("user.fetch", { claims });
  await joined;
  return s;
}

/** Connects, identifies and resolves with the known profile the server sends right away. */
export async function knownProfile<T = { user: { id: string } }>(
  t: TestServer,
  claims: Record<string, unknown>,
): Promise<T> {
  const s = t.connect();
  await once(s, "connect");
  const update = once<T>(s, "user.update");
  s.emit("user.fetch", { claims });
  try {
    return await update;
  } finally {
    s.close();
  }
}
