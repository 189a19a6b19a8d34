/**
 * Dashboard pieces for a connector installed in Hull: which settings Hull manages (shown
 * read-only, with the time of the last sync, so an edit here is never silently overwritten by
 * Hull's next notification), the connector this deployment is bound to (or the rule that binds
 * it) with its release, and what Hull sent that could not be used.
 */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/app_context.ts";
import { Csrf } from "../../lib/admin/page.tsx";
import type { BindingPolicy } from "../../lib/hull/connector_binding.ts";
import type { ConnectionInfo } from "../../lib/hull/credentials.ts";
import type { ManagedDoc } from "../../lib/hull/settings_sync.ts";

/** "2026-12-02 16:40:00 UTC" from an ISO time. */
export function syncTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** The "managed in Hull" label of one setting, or nothing when it is not managed. */
export function managedNote(syncedAt: string | undefined) {
  if (!syncedAt) return null;
  return (
    <span class="pill managed" data-managed="hull">
      managed in Hull · last sync {syncTime(syncedAt)} · edit it in Hull's connector settings
    </span>
  );
}

/** The rules that bind a fresh deployment, in words. */
function bindingRule(policy: BindingPolicy) {
  return (
    <>
      the first Hull-signed notification for {policy.connectorId
        ? (
          <>
            connector <code>{policy.connectorId}</code> (HULL_CONNECTOR_ID)
          </>
        )
        : "any connector"} of an organization on{" "}
      <code>{policy.organizations.map((o) => o.raw).join(", ")}</code> binds it
    </>
  );
}

/**
 * The Hull panel of the settings page, always shown: the connector this deployment is bound to
 * (only notifications carrying its id and secret change anything) with a one-click release, or
 * the rule that binds it; which settings Hull manages, and what Hull sent that was not used.
 */
export function HullPanel(
  p: {
    c: Context<AppEnv>;
    managed: ManagedDoc;
    connection: ConnectionInfo | null;
    policy: BindingPolicy;
    /** Ask before releasing (the first step of the two-step release). */
    confirm?: boolean;
  },
) {
  const keys = Object.keys(p.managed.managed);
  const conn = p.connection;
  return (
    <div class="panel" id="hull" data-bound={conn ? conn.id : ""}>
      <strong>Hull</strong>
      {conn
        ? (
          <form method="post" action="/admin/settings" class="row">
            <Csrf c={p.c} />
            <input type="hidden" name="action" value="ask_forget_hull" />
            <span>
              Bound to Hull connector <code>{conn.id}</code> of <code>{conn.organization}</code>
              {" "}
              (since{" "}
              {syncTime(new Date(conn.updated_at).toISOString())}). Only notifications carrying this
              connector's id and secret change anything here; Hull-signed notifications for any
              other connector are refused. After a release, {bindingRule(p.policy)}.
            </span>
            <button type="submit" class="secondary">Release…</button>
          </form>
        )
        : (
          <p class="muted">
            Not bound to a Hull connector yet:{" "}
            {bindingRule(p.policy)}. Until then profiles are not fetched from Hull.
            {!p.policy.connectorId &&
              " Set HULL_ORGANIZATIONS to your organization (and HULL_CONNECTOR_ID) so that no " +
                "other connector can bind it first."}
          </p>
        )}
      {conn && !conn.secret_readable && (
        <p class="error" role="alert">
          The stored secret of this connector cannot be read (SECRET changed?): every Hull
          notification is refused until you release the binding.
        </p>
      )}
      {conn && !conn.organization_allowed && (
        <p class="error" role="alert">
          Organization <code>{conn.organization}</code>{" "}
          is no longer allowed: no request goes to it, and its notifications are refused. Release
          the binding, or allow it in HULL_ORGANIZATIONS.
        </p>
      )}
      {conn && p.confirm && (
        <form method="post" action="/admin/settings" class="panel confirm" role="alertdialog">
          <Csrf c={p.c} />
          <p>
            <strong>Release Hull connector {conn.id}?</strong>{" "}
            Its credentials are forgotten and profiles are no longer fetched from Hull; then{" "}
            {bindingRule(p.policy)}.
          </p>
          <button type="submit" name="action" value="forget_hull" class="danger">
            Yes, release
          </button>{" "}
          <a href="/admin/settings" class="button secondary">Cancel</a>
        </form>
      )}
      {keys.length > 0 && (
        <p class="muted">
          Settings managed in Hull, read-only here:{" "}
          {keys.map((k) => <code key={k} class="pill">{k}</code>)}
        </p>
      )}
      {p.managed.refused && (
        <p class="error" role="alert" data-refused="hull-settings">
          Settings Hull sent on {syncTime(p.managed.refused.at)}{" "}
          were refused, too large to store (the old values stay, the users of those notifications
          were applied):{" "}
          {p.managed.refused.reason}. Shorten the lists in the connector's settings in Hull.
        </p>
      )}
      {(p.managed.notes ?? []).length > 0 && (
        <p class="muted" data-hull-notes>
          Read from Hull's settings (used as shown): {(p.managed.notes ?? []).join("; ")}
        </p>
      )}
      {p.managed.problems.length > 0 && (
        <p class="error" role="alert">
          Settings Hull sent that were not applied (the old value stays):{" "}
          {p.managed.problems.join("; ")}
        </p>
      )}
    </div>
  );
}
