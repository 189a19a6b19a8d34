/**
 * Renders a dashboard page in the admin shell, with the session's CSRF token, the connector in
 * scope (its selector and its identity banner) and banners.
 */
import type { Context } from "hono";
import type { ComponentChildren } from "preact";
import { AdminLayout } from "../../components/admin/AdminLayout.tsx";
import type { AppEnv } from "../app_context.ts";
import { renderPage } from "../render.ts";
import { CONNECTOR_PARAM, scopedUrl, scopeOf } from "./scope.ts";
import { STANDALONE_ID } from "../connector/directory.ts";

/**
 * A page of the connector in scope. `scoped: false` for pages about every connector (the
 * list), which show no selector and no connector's banner.
 */
export function adminPage(
  c: Context<AppEnv>,
  title: string,
  body: ComponentChildren,
  status = 200,
  opts: { scoped?: boolean } = {},
): Response {
  const scoped = opts.scoped ?? true;
  const connector = scopeOf(c);
  const mode = connector.live.settings.identity_mode ?? "off";
  const warning = scoped && mode === "off"
    ? (
      <span>
        Identity verification is off: any browser that claims an email or id receives that user's
        public profile. <a href={scopedUrl(c, "/admin/settings")}>Change it in Settings</a>.
      </span>
    )
    : undefined;
  return renderPage(
    <AdminLayout
      title={title}
      path={c.req.path}
      csrf={c.var.session?.csrf ?? ""}
      warning={warning}
      scope={scoped ? { id: connector.id, ids: c.var.connectorIds ?? [] } : undefined}
    >
      {body}
    </AdminLayout>,
    status,
  );
}

/** The 404 of a page scoped to a connector that is not (or no longer) registered. */
export function unknownConnectorPage(c: Context<AppEnv>, id: string): Response {
  return adminPage(
    c,
    "Unknown connector",
    <div class="empty" role="alert">
      <p>
        No connector <code>{id.slice(0, 100)}</code>{" "}
        is registered here: it was removed, or Hull never sent a notification for it.
      </p>
      <p>
        <a href="/admin/connectors">See the connectors this deployment serves</a>
      </p>
    </div>,
    404,
    { scoped: false },
  );
}

/** The hidden CSRF field every admin form carries. */
export function Csrf(props: { c: Context<AppEnv> }) {
  return <input type="hidden" name="_csrf" value={props.c.var.session?.csrf ?? ""} />;
}

/** Formats a timestamp as "HH:MM:SS (N min ago)". */
export function since(ms: number, now = Date.now()): string {
  const mins = Math.round((now - ms) / 60_000);
  const t = new Date(ms).toISOString().slice(11, 19);
  return mins < 1 ? `${t} (just now)` : `${t} (${mins} min ago)`;
}

/**
 * The connector parameter of a GET form (a GET form's action drops its own query string);
 * nothing for the standalone connector.
 */
export function ScopeField(props: { connectorId: string }) {
  return props.connectorId === STANDALONE_ID
    ? null
    : <input type="hidden" name={CONNECTOR_PARAM} value={props.connectorId} />;
}
