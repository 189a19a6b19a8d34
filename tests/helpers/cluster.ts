/**
 * Test helper: `main.ts` as real processes (for cluster tests), signed webhooks posted over
 * HTTP, and socket.io clients that identify and keep every `user.update` they receive.
 */
import { io, type Socket } from "socket.io-client";
import { postSigned } from "./server.ts";
import { waitFor } from "./wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** The Origin every helper socket sends (whitelist "localhost"). */
export const ORIGIN = "http://localhost:3000";

/** A running main.ts. */
export interface Proc {
  url: string;
  child: Deno.ChildProcess;
  /** Everything the process printed so far (for failure messages). */
  output(): string;
  /** SIGTERM, then resolves with the exit code. Safe to call twice. */
  stop(): Promise<number>;
}

/** Spawns main.ts and resolves once it prints its URL; keeps draining its output. */
export async function boot(env: Record<string, string>): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let found: (url: string) => void;
  const listening = new Promise<string>((r) => found = r);
  const drain = async (stream: typeof child.stdout) => {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        out += chunk;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) found(m[1].replace(/localhost|0\.0\.0\.0/, "127.0.0.1"));
      }
    } catch { /* closed */ }
  };
  drain(child.stdout);
  drain(child.stderr);
  const timeout = new Promise<null>((r) => setTimeout(() => r(null), 30_000));
  const url = await Promise.race([listening, timeout, child.status.then(() => null)]);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    return (await child.status).code;
  };
  if (!url) {
    await stop();
    throw new Error(`server did not start:\n${out}`);
  }
  return { url, child, output: () => out, stop };
}

export function hullUser(id: string, name: string) {
  return { id, email: `${id}@example.com`, name, secret_trait: `private-${id}` };
}

/** A signed user:update for `users`, posted to `url`. */
export function post(url: string, users: ReturnType<typeof hullUser>[]): Promise<Response> {
  return postSigned(url, {
    notification_id: crypto.randomUUID(),
    channel: "user:update",
    connector: { id: "c1" },
    segments: [{ id: "seg_vip", name: "VIP" }],
    messages: users.map((user) => ({
      user,
      account: {},
      segments: [{ id: "seg_vip", name: "VIP" }],
      account_segments: [],
      events: [],
      changes: {},
    })),
  });
}

export type Payload = { user: { id: string; name?: string; [k: string]: unknown } };

/** A socket with every user.update it received. */
export interface Client {
  socket: Socket;
  got: Payload[];
  /** Resolves with the first update (already received or future) matching `pred`. */
  next(pred: (p: Payload) => boolean, ms?: number): Promise<Payload>;
}

/** Connects to `url`, sends user.fetch with `claims`, resolves once the rooms are joined. */
export async function identify(url: string, claims: Record<string, unknown>): Promise<Client> {
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    extraHeaders: { origin: ORIGIN },
  });
  const got: Payload[] = [];
  const waiters = new Set<() => void>();
  socket.on("user.update", (p: Payload) => {
    got.push(p);
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  const joined = new Promise((r) => socket.once("room.joined", r));
  socket.emit("user.fetch", { claims });
  await joined;
  const next = (pred: (p: Payload) => boolean, ms = 10_000) =>
    new Promise<Payload>((resolve, reject) => {
      const check = () => {
        const hit = got.find(pred);
        if (!hit) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching user.update within ${ms} ms; got ${JSON.stringify(got)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { socket, got, next };
}

export async function health(url: string): Promise<{ code: number; status: string }> {
  try {
    const res = await fetch(`${url}/healthz`);
    return { code: res.status, status: (await res.json()).status };
  } catch (err) {
    return { code: 0, status: String(err) };
  }
}

export async function waitForHealth(url: string, status: string, ms = 15_000): Promise<void> {
  let last;
  try {
    await waitFor(async () => (last = await health(url)).status === status, {
      timeoutMs: ms,
      intervalMs: 100,
    });
  } catch {
    throw new Error(`${url}/healthz never said "${status}"; last: ${JSON.stringify(last)}`);
  }
}
