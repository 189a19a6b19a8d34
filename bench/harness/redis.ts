/**
 * Test helper: a throwaway `redis-server` on 127.0.0.1 and a free port, with no persistence
 * (`--save "" --appendonly no`), so a restart loses every key like a real outage without
 * persistence would. Missing `redis-server` skips Redis tests with a loud warning locally and
 * fails them under `CI=true` (docs/contracts.md §7); `.ci/run` installs it with apt.
 */

import { createClient } from "redis";

/** The binary we start; found on PATH (apt puts it in /usr/bin). */
export const REDIS_SERVER = "redis-server";

export interface TestRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Kills the server (SIGKILL: an outage), waits until it is gone, removes its directory. */
  stop(): Promise<void>;
  /** Starts the server again on the same port (after `stop()`), empty. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
}

let available: boolean | undefined;

/** True when `redis-server` runs here (sync, so `Deno.test({ ignore })` can use it). */
export function hasRedis(): boolean {
  if (available !== undefined) return available;
  try {
    available =
      new Deno.Command(REDIS_SERVER, { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync().success;
  } catch {
    available = false;
  }
  return available;
}

/**
 * Why Redis tests cannot run here, or undefined when they can. Throws under `CI=true`: a
 * missing dependency is a failure there, never a silent skip.
 */
export function redisSkipReason(): string | undefined {
  if (hasRedis()) return undefined;
  const reason = `${REDIS_SERVER} is not on PATH (apt-get install redis-server)`;
  if (Deno.env.get("CI") === "true") throw new Error(`Redis tests need redis-server: ${reason}`);
  console.warn(`\n!!! SKIPPING REDIS TESTS: ${reason} !!!\n`);
  return reason;
}

/** A port nobody listens on right now (the OS picks it; tiny race until redis binds it). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}

/** Resolves once a PING on `port` answers +PONG; rejects after `ms`. */
export async function waitForPong(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(new TextEncoder().encode("PING\r\n"));
        const buf = new Uint8Array(64);
        const n = await conn.read(buf);
        last = new TextDecoder().decode(buf.subarray(0, n ?? 0));
        if (last.startsWith("+PONG")) return;
      } finally {
        conn.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING: ${last}`);
}

/** Starts a redis-server on a free port and resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "hull-redis-" });
  let child: Deno.ChildProcess | null = null;

  const start = async () => {
    if (child) throw new Error("redis-server is already running");
    await Deno.mkdir(dir, { recursive: true });
    child = new Deno.Command(REDIS_SERVER, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--logfile",
        `${dir}/redis.log`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitForPong(port);
    } catch (err) {
      const log = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "");
      await stop();
      throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
    }
  };

  const stop = async () => {
    const c = child;
    if (!c) return;
    child = null;
    try {
      c.kill("SIGKILL"); // an outage, not a graceful shutdown
    } catch { /* already gone */ }
    await c.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
  };
}

/** Runs `fn` with a redis-server and a raw client on it; both are stopped afterwards. */
export async function withRedis(
  fn: (r: TestRedis, raw: ReturnType<typeof createClient>) => Promise<void>,
): Promise<void> {
  const redis = await startRedis();
  const raw = createClient({ url: redis.url, socket: { reconnectStrategy: 100 } });
  raw.on("error", () => {});
  await raw.connect();
  try {
    await fn(redis, raw);
  } finally {
    await raw.disconnect().catch(() => {});
    await redis.stop();
  }
}
