import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";

/**
 * GET or POST /status: Hull's cron asks the connector's status (`{ status, messages }`) with
 * the connector's `ship`, `secret` and `organization` as query parameters; the logic lives in
 * lib/hull/status.ts (docs/hull.md).
 */
export async function handler(c: Context<AppEnv>) {
  const query = new URL(c.req.url).searchParams;
  const { code, body } = await c.var.ctx.hull.status.cronCall(query);
  c.header("cache-control", "no-store");
  return c.json(body, code);
}
