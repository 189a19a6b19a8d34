/**
 * Hull's status cron on a deployment serving many connectors: the connector named by the
 * cron's `ship` parameter answers with its own status (and pushes it to Hull with its own
 * credentials), after the check of `secret` and `organization` against what it registered
 * with (status.ts). While no Hull connector is registered, any id answers `setupRequired` (the
 * cron of a connector Hull has not notified us about yet), pushing nothing; once some are, an
 * id none is registered under is refused (403) like a wrong secret, so a stranger learns nothing.
 */
import { type ConnectorDirectory, HULL_CONNECTOR_ID } from "../connector/directory.ts";
import type { HullServices } from "./services.ts";
import { connectorStatus } from "./status.ts";

/** Answers one cron call (`ship`, `secret`, `organization` in `query`). Throws when the store fails. */
export async function statusCronCall(
  directory: ConnectorDirectory<HullServices>,
  query: URLSearchParams,
): Promise<{ code: 200 | 401 | 403; body: object }> {
  const ship = query.get("ship")?.trim().toLowerCase() ?? "";
  const complete = ["ship", "secret", "organization"].every((k) => query.get(k)?.trim());
  if (!complete) {
    return { code: 401, body: { error: "ship, secret and organization are required" } };
  }
  // Only a Hull connector id may name a connector (never the standalone one).
  const connector = HULL_CONNECTOR_ID.test(ship) ? await directory.get(ship) : null;
  if (connector) return await connector.services.status.cronCall(query);
  // Serving other connectors: a stranger learns nothing of them from an id of their own.
  if ((await directory.ids()).length) {
    return {
      code: 403,
      body: { error: "these credentials are not those of a connector this deployment serves" },
    };
  }
  const unknown = connectorStatus({
    connection: null,
    managed: { managed: {}, problems: [], refused: null },
    health: {},
    now: Date.now(),
  });
  return { code: 200, body: unknown };
}
