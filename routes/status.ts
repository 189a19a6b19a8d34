import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";
import { statusCronCall } from "../lib/hull/status_cron.ts";

/**
 * GET or POST /status: Hull's cron asks a connector's status (`{ status, messages }`) with the
 * connector's `ship`, `secret` and `organization` as query parameters; the connector named by
 * `ship` answers. The logic lives in lib/hull/status_cron.ts and status.ts (docs/hull.md).
 */
export async function handler(c: Context<AppEnv>) {
  const query = new URL(c.req.url).searchParams;
  const { code, body } = await statusCronCall(c.var.ctx.connectors, query);
  c.header("cache-control", "no-store");
  return c.json(body, code);
}
