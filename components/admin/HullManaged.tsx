/**
 * Dashboard pieces for a connector installed in Hull: which settings Hull manages (shown
 * read-only, with the time of the last sync, so an edit here is never silently overwritten by
 * Hull's next notification), the connector this deployment serves, and what Hull sent that
 * could not be used.
 */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/app_context.ts";
import { Csrf } from "../../lib/admin/page.tsx";
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

/** The Hull connection panel of the settings page. */
export function HullPanel(
  p: { c: Context<AppEnv>; managed: ManagedDoc; connection: ConnectionInfo | null },
) {
  const keys = Object.keys(p.managed.managed);
  const { refused } = p.managed;
  if (!p.connection && !keys.length && !p.managed.problems.length && !refused) return null;
  return (
    <div class="panel" id="hull">
      <strong>Hull</strong>
      {p.connection
        ? (
          <form method="post" action="/admin/settings" class="row">
            <Csrf c={p.c} />
            <input type="hidden" name="action" value="forget_hull" />
            <span>
              Serving Hull connector <code>{p.connection.id}</code> of{" "}
              <code>{p.connection.organization}</code> (credentials received{" "}
              {syncTime(new Date(p.connection.updated_at).toISOString())}). Notifications for any
              other connector are refused.
            </span>
            <button type="submit" class="secondary">Disconnect</button>
          </form>
        )
        : <p class="muted">No Hull-signed notification yet: profiles are not fetched from Hull.</p>}
      {keys.length > 0 && (
        <p class="muted">
          Settings managed in Hull, read-only here:{" "}
          {keys.map((k) => <code key={k} class="pill">{k}</code>)}
        </p>
      )}
      {refused && (
        <p class="error" role="alert" data-refused="hull-settings">
          Settings Hull sent on {syncTime(refused.at)}{" "}
          were refused, too large to store (the old values stay, the users of those notifications
          were applied): {refused.reason}. Shorten the lists in the connector's settings in Hull.
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
