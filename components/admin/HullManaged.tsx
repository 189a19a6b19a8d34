/**
 * Dashboard pieces for a connector installed in Hull: which settings Hull manages (shown
 * read-only, with the time of the last sync, so an edit here is never silently overwritten by
 * Hull's next notification), the Hull connector in scope with the way to remove it (or, for
 * the standalone connector, the rule that registers Hull connectors), and what Hull sent that
 * could not be used.
 */
import type { BindingPolicy } from "../../lib/hull/connector_binding.ts";
import type { ConnectionInfo } from "../../lib/hull/credentials.ts";
import type { ManagedDoc } from "../../lib/hull/settings_sync.ts";
import { STANDALONE_ID } from "../../lib/connector/directory.ts";

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

/** The rules that register a Hull connector, in words. */
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
      <code>{policy.organizations.map((o) => o.raw).join(", ")}</code>{" "}
      registers it, with settings, credentials and dashboard pages of its own (at most{" "}
      {policy.maxConnectors} connectors)
    </>
  );
}

/**
 * The Hull panel of the settings page, always shown. For a Hull connector: its id and
 * organization (only notifications carrying its id and secret change anything) and a link to
 * its removal (which replaces the release of the single binding of earlier releases). For the
 * standalone connector: the rule that registers Hull connectors. Then which settings Hull
 * manages, and what Hull sent that was not used.
 */
export function HullPanel(
  p: {
    /** The connector in scope. */
    connectorId: string;
    /** Where a Hull connector's removal is confirmed. */
    removeHref: string;
    managed: ManagedDoc;
    connection: ConnectionInfo | null;
    policy: BindingPolicy;
  },
) {
  const keys = Object.keys(p.managed.managed);
  const conn = p.connection;
  const standalone = p.connectorId === STANDALONE_ID;
  return (
    <div class="panel" id="hull" data-bound={conn ? conn.id : ""}>
      <strong>Hull</strong>
      {!standalone && (
        <div class="row">
          <span>
            Hull connector <code>{p.connectorId}</code>
            {conn && (
              <>
                {" "}of <code>{conn.organization}</code> (credentials since{" "}
                {syncTime(new Date(conn.updated_at).toISOString())})
              </>
            )}. Only notifications carrying this connector's id and secret change anything here.
          </span>
          <a href={p.removeHref} class="button secondary">Remove this connector…</a>
        </div>
      )}
      {standalone && (
        <p class="muted">
          This standalone connector takes HMAC-signed webhooks and the environment's seeds. Hull
          connectors are separate: {bindingRule(p.policy)}; see{" "}
          <a href="/admin/connectors">Connectors</a>.
          {!p.policy.connectorId &&
            " Set HULL_ORGANIZATIONS to your organization (and HULL_CONNECTOR_ID) so that no " +
              "other connector can register."}
        </p>
      )}
      {conn && !conn.secret_readable && (
        <p class="error" role="alert">
          The stored secret of this connector cannot be read (SECRET changed?): every Hull
          notification is refused until you remove this connector (its next notification registers
          it again).
        </p>
      )}
      {conn && !conn.organization_allowed && (
        <p class="error" role="alert">
          Organization <code>{conn.organization}</code>{" "}
          is no longer allowed: no request goes to it, and its notifications are refused. Remove
          this connector, or allow it in HULL_ORGANIZATIONS.
        </p>
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
