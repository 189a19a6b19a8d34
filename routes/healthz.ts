import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";
import { isBuilt } from "../lib/deploy/preflight.ts";
import { socketCounts } from "../lib/socket/namespaces.ts";
import { RETRY_AFTER_S } from "../lib/store/outage.ts";

/**
 * GET /healthz: 200 `{status:"ok"}` when the store answers, else 503 `{status:"degraded"}`.
 * `snippet` says whether the bundle was built (`"missing"`: run `deno task build`); it does not
 * change the status, which is about the store.
 */
export async function handler(c: Context<AppEnv>) {
  const { store, io, config, startedAt } = c.var.ctx;
  const body = {
    instance: config.instance,
    uptime_s: Math.round((performance.now() - startedAt) / 1000),
    sockets: io.engine.clientsCount,
    ...socketCounts(io),
    snippet: await isBuilt(c.var.ctx.snippetPath) ? "ok" : "missing",
    counters: c.var.ctx.metrics.counters,
  };
  try {
    await store.ping();
    return c.json({ status: "ok", store: "ok", ...body });
  } catch (err) {
    // "degraded": the process serves, but its store (KV or Redis) is away; it reconnects.
    // Requests that need the store answer 503 meanwhile (lib/store/outage.ts).
    c.header("retry-after", String(RETRY_AFTER_S));
    return c.json({ status: "degraded", store: String((err as Error).message), ...body }, 503);
  }
}
