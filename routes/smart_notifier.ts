import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";
import { errorAnswer, handleSmartNotifier } from "../lib/webhook/endpoint.ts";

/**
 * POST /smart-notifier: Hull's batches (docs/contracts.md §3); the logic lives in lib/webhook/.
 * A request counts as accepted (and shutdown finishes it) from its headers on, while its body
 * is still arriving.
 */
export function handler(c: Context<AppEnv>) {
  const { webhook } = c.var.ctx;
  const work = (async () => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const answer = await handleSmartNotifier(raw, c.req.raw.headers, webhook).catch((err) => {
      // A bug, not the request: logged here, answered as every webhook error is (Hull retries).
      console.error("smart-notifier: unexpected error:", err);
      return errorAnswer(500, "internal error");
    });
    if (answer.retryAfter) c.header("retry-after", String(answer.retryAfter));
    return c.json(answer.body, answer.status as 200);
  })();
  if (!webhook.inflight) return work;
  webhook.inflight.add(work);
  return work.finally(() => webhook.inflight!.delete(work));
}
