/**
 * What the dashboard's list of connectors shows of each: name, organization, status, last
 * notification, the last refused notification, sockets and refusals. Hull's side comes from
 * the connector's summary (lib/hull/summary.ts), sockets from the socket server's counts across
 * instances, refusals from the connector's own live log. Strings come from Hull's
 * notifications: pages only ever render them as text.
 */
import type { AppContext } from "../app_context.ts";
import { STANDALONE_ID } from "../connector/directory.ts";
import type { ConnectorStatus } from "../hull/api_client.ts";
import { connectorSummary } from "../hull/summary.ts";
import { clusterConnectorCounts } from "../socket/namespaces.ts";
import type { ScopedConnector } from "./scope.ts";

/** Log entries a row counts refusals in (the newest of the connector's live log). */
export const REFUSAL_WINDOW = 200;

/** One row of the list of connectors. */
export interface ConnectorRow {
  id: string;
  /** The standalone connector (HMAC webhooks, env seeds, namespace `/`); it cannot be removed. */
  standalone: boolean;
  namespace: string;
  /** The connector's name in Hull, when Hull sent one. */
  name: string | null;
  /** The Hull organization it belongs to (null: standalone, or no credentials yet). */
  organization: string | null;
  /** When its last notification was applied (ISO), if ever. */
  lastNotification: string | null;
  /** The last notification naming it that was refused, and why. */
  lastRefusal: { at: string; reason: string } | null;
  /** Its sockets, summed over the instances that answered. */
  sockets: number;
  /** Refused connections and webhooks among its newest REFUSAL_WINDOW log entries. */
  refusals: number;
  /** Its status as Hull is told it (null for the standalone connector, which Hull never asks). */
  status: ConnectorStatus | null;
}

/** The row of one connector; `sockets` from `clusterConnectorCounts` when already asked. */
export async function connectorRow(
  ctx: AppContext,
  connector: ScopedConnector,
  sockets?: Record<string, { sockets: number }>,
): Promise<ConnectorRow> {
  const standalone = connector.id === STANDALONE_ID;
  const [summary, recent, counts] = await Promise.all([
    connectorSummary(connector),
    connector.store.listEvents(REFUSAL_WINDOW),
    sockets ?? clusterConnectorCounts(ctx.io),
  ]);
  return {
    id: connector.id,
    standalone,
    namespace: connector.namespace,
    name: summary.name,
    organization: summary.organization,
    lastNotification: summary.last_notification_at,
    lastRefusal: summary.last_refusal,
    sockets: counts[connector.id]?.sockets ?? 0,
    refusals: recent.filter((e) => e.event === "incoming.connection.error").length,
    status: standalone ? null : summary.status.status,
  };
}

/** The standalone connector, then every registered Hull connector (sorted by id). */
export async function listConnectorRows(ctx: AppContext): Promise<ConnectorRow[]> {
  const ids = [...await ctx.connectors.ids()].sort();
  const [connectors, sockets] = await Promise.all([
    Promise.all(ids.map((id) => ctx.connectors.get(id))),
    clusterConnectorCounts(ctx.io),
  ]);
  return await Promise.all(
    [ctx.connectors.standalone, ...connectors.filter((c) => c !== null)].map((c) =>
      connectorRow(ctx, c, sockets)
    ),
  );
}
