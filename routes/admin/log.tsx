import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { Island } from "../../components/admin/AdminLayout.tsx";
import LiveLog from "../../islands/LiveLog.tsx";
import { adminPage } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { CONNECTOR_EVENTS } from "../../lib/events.ts";
import { MAX_STREAMS, MAX_STREAMS_PER_SESSION } from "../../lib/admin/log_feed.ts";
import { scopedUrl, scopeOf } from "../../lib/admin/scope.ts";

/** Idle streams get a ping this often (keeps proxies from closing them, detects gone clients). */
const PING_MS = 5_000;

/**
 * GET /admin/log?connector=: the connector's history from its store scope, then its live
 * entries streamed by the island.
 */
export async function handler(c: Context<AppEnv>) {
  const initial = await scopeOf(c).store.listEvents(200);
  return adminPage(
    c,
    "Live log",
    <>
      <noscript>
        <p class="notice notice-warn">
          JavaScript is off: these are the latest entries when the page loaded, and the filters do
          not work. Reload the page to see newer ones.
        </p>
      </noscript>
      <Island
        name="LiveLog"
        component={LiveLog}
        props={{
          initial,
          events: [...CONNECTOR_EVENTS],
          stream: scopedUrl(c, "/admin/api/log/stream"),
        }}
      />
    </>,
  );
}

/**
 * GET /admin/api/log/stream?connector=&after=<id>: server-sent events from the connector's
 * shared log in the store (every instance writes there), so the stream shows all instances.
 * Capped per session and per instance (429 beyond); it ends when the client goes, the session
 * is logged out or the connector is removed.
 */
export function stream(c: Context<AppEnv>) {
  const { logFeed, auth, connectors } = c.var.ctx;
  const connector = scopeOf(c);
  const session = c.var.session!;
  const sub = logFeed.open(session.nonce, c.req.query("after") ?? "", connector.store);
  if (!sub) {
    return c.json({
      error: `too many live-log streams: at most ${MAX_STREAMS_PER_SESSION} per session and ` +
        `${MAX_STREAMS} per instance; close another dashboard tab`,
    }, 429);
  }
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => sub.close());
    try {
      while (!sub.closed && !sse.aborted && !sse.closed) {
        const entries = await sub.next(PING_MS);
        for (const e of entries) {
          await sse.writeSSE({ event: "entry", data: JSON.stringify(e), id: e.id });
        }
        if (!entries.length) await sse.writeSSE({ event: "ping", data: "" });
        if (await auth.isRevoked(session)) break;
        if (!(await connectors.has(connector.id))) break;
      }
    } finally {
      sub.close();
    }
  }, (_err) => {
    sub.close();
    return Promise.resolve();
  });
}

/** GET /admin/api/log?connector=&limit=: the connector's recent entries as JSON. */
export async function json(c: Context<AppEnv>) {
  const limit = Math.min(1000, Math.max(1, Number(c.req.query("limit")) || 100));
  return c.json({ entries: await scopeOf(c).store.listEvents(limit) });
}
