import type { Context } from "hono";
import type { AppEnv } from "../../lib/app_context.ts";
import { stats } from "./index.tsx";

/** GET /admin/api/stats: the overview's numbers across instances, for the live island. */
export async function statsJson(c: Context<AppEnv>) {
  return c.json(await stats(c.var.ctx));
}

/** GET /admin/api/session: the CSRF token for API writes (islands, scripts). */
export function session(c: Context<AppEnv>) {
  return c.json({ csrf: c.var.session!.csrf });
}
