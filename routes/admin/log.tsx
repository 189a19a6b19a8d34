import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { Island } from "../../components/admin/AdminLayout.tsx";
import LiveLog from "../../islands/LiveLog.tsx";
import { adminPage } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { CONNECTOR_EVENTS } from "../../lib/events.ts";
import type { LogEntry } from "../../lib/store.ts";

/** GET /admin/log: the history from the store, then live entries streamed by the island. */
export async function handler(c: Context<AppEnv>) {
  const initial = await c.var.ctx.store.listEvents(200);
  return adminPage(
    c,
    "Live log",
    <Island
      name="LiveLog"
      component={LiveLog}
      props={{ initial, events: [...CONNECTOR_EVENTS] }}
    />,
  );
}

/**
 * GET /admin/api/log/stream?after=<id>: server-sent events. Reads the shared log in the store
 * (every instance writes there), so the stream shows all instances, not just this one.
 */
export function stream(c: Context<AppEnv>) {
  const { store } = c.var.ctx;
  let after = c.req.query("after") ?? "";
  return streamSSE(c, async (sse) => {
    let open = true;
    sse.onAbort(() => {
      open = false;
    });
    while (open) {
      const batch: LogEntry[] = await store.listEvents(200).catch(() => []);
      const fresh = batch.filter((e) => (e.id ?? "") > after).reverse();
      for (const e of fresh) {
        await sse.writeSSE({ event: "entry", data: JSON.stringify(e), id: e.id });
        after = e.id ?? after;
      }
      if (!fresh.length) await sse.writeSSE({ event: "ping", data: "" });
      await sse.sleep(500);
    }
  });
}

/** GET /admin/api/log?limit=: recent entries as JSON. */
export async function json(c: Context<AppEnv>) {
  const limit = Math.min(1000, Math.max(1, Number(c.req.query("limit")) || 100));
  return c.json({ entries: await c.var.ctx.store.listEvents(limit) });
}
