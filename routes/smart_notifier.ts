import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";
import { handleSmartNotifier } from "../lib/webhook.ts";

/** POST /smart-notifier: Hull's batches (DESIGN §3.3); the logic lives in lib/webhook.ts. */
export async function handler(c: Context<AppEnv>) {
  const raw = new Uint8Array(await c.req.arrayBuffer());
  const answer = await handleSmartNotifier(raw, c.req.raw.headers, c.var.ctx.webhook);
  return c.json(answer.body, answer.status as 200);
}
