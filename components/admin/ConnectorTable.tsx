/**
 * The connectors of a deployment as the dashboard shows them: the list (one row each, with a
 * link to its pages and, for a Hull connector, to its removal), the facts of the connector in
 * scope on its overview, and the confirmation of a removal. Names and organizations come from
 * Hull's notifications: they are only ever rendered as text (escaped).
 */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/app_context.ts";
import { Csrf } from "../../lib/admin/page.tsx";
import { scopedPath } from "../../lib/admin/scope.ts";
import { type ConnectorRow, REFUSAL_WINDOW } from "../../lib/admin/connector_list.ts";
import { syncTime } from "./HullManaged.tsx";

const when = (iso: string | null) => iso === null ? "never" : syncTime(iso);

/** "standalone" or the connector's name and id. */
function ConnectorName(p: { s: ConnectorRow }) {
  if (p.s.standalone) return <strong>standalone</strong>;
  return (
    <>
      {p.s.name && <strong>{p.s.name}</strong>} <code>{p.s.id}</code>
    </>
  );
}

/** Where removing connector `id` is confirmed. */
export const removalPath = (id: string) =>
  `/admin/connectors?${new URLSearchParams({ remove: id })}`;

/** Every connector, one row each. */
export function ConnectorTable(p: { rows: ConnectorRow[] }) {
  return (
    <div class="table-scroll">
      <table class="connectors">
        <thead>
          <tr>
            <th>connector</th>
            <th>organization</th>
            <th>status</th>
            <th>last notification</th>
            <th>last refused notification</th>
            <th>sockets</th>
            <th>refusals</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((s) => (
            <tr key={s.id} data-connector={s.id}>
              <td>
                <ConnectorName s={s} />
              </td>
              <td>{s.organization ?? (s.standalone ? "—" : "not known yet")}</td>
              <td>{s.status ?? "—"}</td>
              <td>{when(s.lastNotification)}</td>
              <td>
                {s.lastRefusal ? `${when(s.lastRefusal.at)}: ${s.lastRefusal.reason}` : "—"}
              </td>
              <td>{s.sockets}</td>
              <td>{s.refusals}</td>
              <td class="actions">
                <a href={scopedPath(s.id, "/admin")}>Open</a>
                {!s.standalone && " "}
                {!s.standalone && <a href={removalPath(s.id)} class="button secondary">Remove…</a>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The connector in scope, on its overview. */
export function ConnectorFacts(p: { summary: ConnectorRow }) {
  const s = p.summary;
  return (
    <div class="panel" data-connector-facts={s.id}>
      <p>
        <ConnectorName s={s} /> {s.standalone
          ? "(HMAC-signed webhooks, the environment's seeds, pages without data-hull-id)"
          : (
            <>
              of <code>{s.organization ?? "an organization not known yet"}</code> (pages with{" "}
              <code>data-hull-id="{s.id}"</code>)
            </>
          )}
      </p>
      <p class="muted">
        Status {s.status ?? "—"} · last notification {when(s.lastNotification)} · {s.sockets}{" "}
        socket(s) · {s.refusals} refusal(s) among its latest {REFUSAL_WINDOW} log entries ·{" "}
        <a href="/admin/connectors">all connectors</a>
      </p>
    </div>
  );
}

/** The second step of a removal: says what goes, and asks for a tick before it does. */
export function RemoveConnectorForm(p: { c: Context<AppEnv>; id: string; error?: string }) {
  return (
    <form
      method="post"
      action={`/admin/connectors/${encodeURIComponent(p.id)}/remove`}
      class="panel confirm"
      role="alertdialog"
      aria-labelledby="remove-title"
    >
      <Csrf c={p.c} />
      <p id="remove-title">
        <strong>Remove Hull connector {p.id}?</strong>{" "}
        Its settings, credentials, profiles and identifiers, live log and status are deleted on
        every instance, and its pages' sockets are disconnected. Hull keeps its own data: the
        connector's next notification registers it again, empty.
      </p>
      {p.error && <p class="error" role="alert">{p.error}</p>}
      <p>
        <input type="checkbox" id="confirm-remove" name="confirm" value="yes" required />{" "}
        <label for="confirm-remove">
          Delete all data of connector <code>{p.id}</code>
        </label>
      </p>
      <p>
        <button type="submit" class="danger">Remove the connector</button>{" "}
        <a href="/admin/connectors" class="button secondary">Cancel</a>
      </p>
    </form>
  );
}
