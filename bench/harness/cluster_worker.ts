/**
 * Test helper run as a Web Worker: one connector instance (its own isolate, its own
 * `Deno.openKv(path)` on a KV file shared with the other workers, its own server on
 * 127.0.0.1:0), driven by messages. Several of these in one process behave like several Deno
 * Deploy isolates, and unlike several processes they see each other's KV writes through
 * `kv.watch` (docs/contracts.md §7).
 *
 * Protocol (postMessage):
 *   → { cmd: "start", kvPath, env?, kvAdapter? }   ← { type: "ready", port }
 *   → { id, cmd: "serverCount" }                   ← { id, result: number }
 *   → { id, cmd: "fetchSockets" }                  ← { id, result: string[] } (socket ids, all instances)
 *   → { id, cmd: "burst", count, rate }            ← { id, result: null } once emitted: `count`
 *     "bench" events { i, t } to every socket at `rate` per second, `t` in epoch ms (comparable
 *     across isolates: performance.timeOrigin + performance.now())
 *   → { id, cmd: "close" }                         ← { id, result: null } once the server closed
 *   errors: ← { id, error: string }
 */
/// <reference lib="deno.worker" />
import { loadConfig } from "../../lib/config.ts";
import type { KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";
import { type RunningServer, startServer } from "../../lib/server.ts";
import { DEFAULT_ENV } from "./server.ts";

/** The start message. */
export interface StartMessage {
  cmd: "start";
  kvPath: string;
  env?: Record<string, string>;
  kvAdapter?: KvAdapterOptions;
}

/** A command sent once the worker is ready. */
export type Command =
  | { id: number; cmd: "serverCount" | "fetchSockets" | "close" }
  | { id: number; cmd: "burst"; count: number; rate: number };

let server: RunningServer | null = null;

const now = () => performance.timeOrigin + performance.now();

async function run(c: Command): Promise<unknown> {
  const io = server!.io;
  switch (c.cmd) {
    case "serverCount":
      return await io.of("/").adapter.serverCount();
    case "fetchSockets":
      return (await io.fetchSockets()).map((s) => s.id);
    case "burst": {
      // Paced in 10 ms ticks so that a rate is sustained rather than dumped at once.
      const perTick = Math.max(1, Math.round(c.rate / 100));
      for (let i = 0; i < c.count;) {
        const tick = now();
        for (let j = 0; j < perTick && i < c.count; j++, i++) io.emit("bench", { i, t: now() });
        await new Promise((r) => setTimeout(r, Math.max(0, 10 - (now() - tick))));
      }
      return null;
    }
    case "close":
      await server!.close();
      server = null;
      return null;
  }
}

self.onmessage = async (e: MessageEvent<StartMessage | Command>) => {
  const m = e.data;
  if (m.cmd === "start") {
    const config = loadConfig({ ...DEFAULT_ENV, ...m.env, KV_PATH: m.kvPath });
    server = await startServer(config, { stdoutLog: false, kvAdapter: m.kvAdapter });
    self.postMessage({ type: "ready", port: server.port });
    return;
  }
  try {
    self.postMessage({ id: m.id, result: await run(m) });
  } catch (err) {
    self.postMessage({ id: m.id, error: String((err as Error)?.message ?? err) });
  }
};
