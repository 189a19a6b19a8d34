import type { Context } from "hono";
import { ConnectorTable, RemoveConnectorForm } from "../../components/admin/ConnectorTable.tsx";
import { listConnectorRows } from "../../lib/admin/connector_list.ts";
import { adminPage, unknownConnectorPage } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { HULL_CONNECTOR_ID, STANDALONE_ID } from "../../lib/connector/directory.ts";

/**
 * GET /admin/connectors: the standalone connector and every registered Hull connector.
 * `?remove=<id>` (or `confirmRemove` after a refused removal) shows the confirmation of that
 * connector's removal; `?removed=<id>` says it is gone.
 */
export async function handler(
  c: Context<AppEnv>,
  form: { confirmRemove?: string; error?: string } = {},
  status = 200,
) {
  const rows = await listConnectorRows(c.var.ctx);
  const asked = form.confirmRemove ?? c.req.query("remove");
  const confirm = rows.find((r) => r.id === asked && !r.standalone)?.id;
  // Said only of an id that is indeed gone (the parameter comes from a link anyone can craft).
  const gone = c.req.query("removed") ?? "";
  const removed = HULL_CONNECTOR_ID.test(gone) && !rows.some((r) => r.id === gone) ? gone : null;
  return adminPage(
    c,
    "Connectors",
    <>
      {removed && (
        <p class="ok" role="status">
          Connector <code>{removed}</code> was removed with all of its data.
        </p>
      )}
      {form.error && !confirm && <p class="error" role="alert">{form.error}</p>}
      {confirm && <RemoveConnectorForm c={c} id={confirm} error={form.error} />}
      <ConnectorTable rows={rows} />
      <p class="muted">
        Hull connectors are registered by Hull's first signed notification; each has its own
        settings, credentials, profiles, rooms and live log. Sockets are counted on every instance
        that answers; refusals (connections and webhooks) in each connector's latest log entries.
      </p>
    </>,
    status,
    { scoped: false },
  );
}

/**
 * POST /admin/connectors/<id>/remove (CSRF-checked by the guard, `confirm=yes` from the
 * confirmation's checkbox): removes the Hull connector and all of its data on every instance
 * and closes its live-log streams here; its sockets are disconnected through the directory's
 * `onRemoved`. The standalone connector cannot be removed (400).
 */
export async function remove(c: Context<AppEnv>) {
  const id = c.req.param("id") ?? "";
  const { connectors, events, logFeed } = c.var.ctx;
  if (id === STANDALONE_ID) {
    return handler(c, {
      error: "The standalone connector cannot be removed: it is the deployment itself.",
    }, 400);
  }
  const connector = await connectors.get(id, true);
  if (!connector) return unknownConnectorPage(c, id);
  const body = await c.req.parseBody();
  if (body.confirm !== "yes") {
    return handler(c, {
      confirmRemove: id,
      error: "Nothing was removed: tick the box to confirm.",
    }, 400);
  }
  logFeed.closeSource(connector.store);
  await connectors.remove(id);
  // In the deployment's own log (stdout and the standalone connector's live log); no secret.
  events.emit("incoming.connection.start", { message: `connector ${id} removed by an admin` });
  return c.redirect(`/admin/connectors?${new URLSearchParams({ removed: id })}`, 303);
}
