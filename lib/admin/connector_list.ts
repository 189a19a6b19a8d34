/**
 * What the dashboard's list of connectors shows of each: name, organization, status, last
 * notification, sockets and refusals. Everything is read here, in one place, from what the
 * connector's parts record today (its credentials, its Hull status record, its live log, the
 * socket server), so that a better source (a summary kept by lib/hull, cluster-wide socket
 * counts) replaces one function. Strings come from Hull's notifications: pages escape them.
 */
import type { AppContext } from "../app_context.ts";
import { STANDALONE_ID } from "../connector/directory.ts";
import type { ConnectorStatus } from "../hull/api_client.ts";
import { localSockets } from "./cluster.ts";
import type { ScopedConnector } from "./scope.ts";

/** Log entries a summary counts refusals in (the newest of the connector's live log). */
export const REFUSAL_WINDOW = 200;

/** The status record's key of the last notification (lib/hull/status.ts writes it). */
const LAST_NOTIFICATION = "hull_health.last_notification";

/** One row of the list of connectors. */
export interface ConnectorSummary {
  id: string;
  /** The standalone connector (HMAC webhooks, env seeds, namespace `/`); it cannot be removed. */
  standalone: boolean;
  namespace: string;
  /** The connector's name in Hull, when Hull sent one. */
  name: string | null;
  /** The Hull organization it belongs to (null: standalone, or no credentials yet). */
  organization: string | null;
  /** When its last Hull notification was applied (ms since the epoch), if ever. */
  lastNotification: number | null;
  /** Its sockets connected to this instance. */
  sockets: number;
  /** Refused connections and webhooks among its newest REFUSAL_WINDOW log entries. */
  refusals: number;
  /** Its status as Hull is told it (null for the standalone connector, which Hull never asks). */
  status: ConnectorStatus | null;
}

/**
 * Sockets of connector `id` (the standalone one: namespace `/`) connected to this instance.
 * Cluster-wide counts per connector replace this where the socket server offers them.
 */
function socketsOf(ctx: AppContext, connector: ScopedConnector): number {
  return localSockets(ctx.io, connector.namespace);
}

/** The summary of one connector. */
export async function summarizeConnector(
  ctx: AppContext,
  connector: ScopedConnector,
): Promise<ConnectorSummary> {
  const standalone = connector.id === STANDALONE_ID;
  const { credentials, status } = connector.services;
  const [info, notified, recent, current] = await Promise.all([
    credentials.info(),
    connector.store.getMeta<number>(LAST_NOTIFICATION),
    connector.store.listEvents(REFUSAL_WINDOW),
    standalone ? null : status.current(),
  ]);
  return {
    id: connector.id,
    standalone,
    namespace: connector.namespace,
    name: null,
    organization: info?.organization ?? null,
    lastNotification: notified ?? null,
    sockets: socketsOf(ctx, connector),
    refusals: recent.filter((e) => e.event === "incoming.connection.error").length,
    status: current?.status ?? null,
  };
}

/** The standalone connector, then every registered Hull connector (sorted by id). */
export async function listConnectorSummaries(ctx: AppContext): Promise<ConnectorSummary[]> {
  const ids = [...await ctx.connectors.ids()].sort();
  const connectors = await Promise.all(ids.map((id) => ctx.connectors.get(id)));
  return await Promise.all(
    [ctx.connectors.standalone, ...connectors.filter((c) => c !== null)].map((c) =>
      summarizeConnector(ctx, c)
    ),
  );
}
