/**
 * What the dashboard lists of one connector: Hull's name for it, its organization, its last
 * notification, settings from Hull that were refused, notifications refused for it, and its
 * status as Hull's cron would see it. Read from the connector's own store scope; never a secret.
 */
import type { Connector } from "../connector/directory.ts";
import type { HullServices } from "./services.ts";
import { loadManaged } from "./settings_sync.ts";
import type { StatusAnswer } from "./status.ts";

/** One connector, as the dashboard's list of connectors shows it. */
export interface ConnectorSummary {
  /** "default" (the standalone connector) or the Hull connector's id. */
  id: string;
  /** True for the standalone connector (HMAC webhooks, namespace `/`). */
  standalone: boolean;
  /** Hull's name of the connector (`connector.name`, at most 100 characters); null: none. */
  name: string | null;
  /** The Hull organization it belongs to (a host name); null: none (standalone). */
  organization: string | null;
  /** When its credentials were first kept or last changed (ISO); null: none. */
  registered_at: string | null;
  /** False when the stored secret cannot be decrypted (SECRET changed): it is refused. */
  secret_readable: boolean;
  /** False when HULL_ORGANIZATIONS no longer allows its organization: nothing is requested. */
  organization_allowed: boolean;
  /**
   * When a notification of it was last applied (ISO; shared by all instances, each writing it
   * at most once a minute, so it is at most a minute behind); null: never.
   */
  last_notification_at: string | null;
  /** The last refusal of settings from Hull too large to store; null: none (or fit again). */
  refused_settings: { reason: string; at: string } | null;
  /** The last notification naming it that was refused (ISO time, reason); null: none. */
  last_refusal: { at: string; reason: string } | null;
  /** Notifications naming it refused by this instance since it started. */
  refusals_here: number;
  /** Its status as Hull's cron gets it (`ok`, `warning`, `error`, `setupRequired`). */
  status: StatusAnswer;
}

const iso = (ms: number | undefined) => ms === undefined ? null : new Date(ms).toISOString();

/**
 * The summary of `connector` (any connector of `ctx.connectors`, the standalone one
 * included), read from its store scope. Throws when the store fails.
 */
export async function connectorSummary(
  connector: Connector<HullServices>,
): Promise<ConnectorSummary> {
  const { credentials, status } = connector.services;
  const [info, health, managed, answer] = await Promise.all([
    credentials.info(),
    status.health(),
    loadManaged(connector.store),
    status.current(),
  ]);
  return {
    id: connector.id,
    standalone: connector.namespace === "/",
    name: health.name ?? null,
    organization: info?.organization ?? null,
    registered_at: iso(info?.updated_at),
    secret_readable: info?.secret_readable ?? true,
    organization_allowed: info?.organization_allowed ?? true,
    last_notification_at: iso(health.last_notification),
    refused_settings: managed.refused,
    last_refusal: health.last_refusal
      ? { at: new Date(health.last_refusal.at).toISOString(), reason: health.last_refusal.reason }
      : null,
    refusals_here: status.refusalsHere,
    status: answer,
  };
}
