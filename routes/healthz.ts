import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";

/** GET /healthz: 200 when the store answers, 503 otherwise. */
export async function handler(c: Context<AppEnv>) {
  const { store, io, config, startedAt } = c.var.ctx;
  const body = {
    instance: config.instance,
    uptime_s: Math.round((performance.now() - startedAt) / 1000),
    sockets: io.engine.clientsCount,
  };
  try {
    await store.ping();
    return c.json({ status: "ok", store: "ok", ...body });
  } catch (err) {
    return c.json({ status: "error", store: String((err as Error).message), ...body }, 503);
  }
}
