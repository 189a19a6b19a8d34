/**
 * Test helper: reading what a Hull connector holds in its own store scope (credentials,
 * profiles, settings, live log) on a running test server, for tests of many connectors.
 */
import type { Connector } from "../../lib/connector/directory.ts";
import type { HullServices } from "../../lib/hull/services.ts";
import type { LogEntry } from "../../lib/store/store.ts";
import type { TestServer } from "./server.ts";

/** The registered connector `id` (read from the store, not the instance's copy), or null. */
export async function hullConnector(
  t: TestServer,
  id: string,
): Promise<Connector<HullServices> | null> {
  return await t.server.ctx.connectors.get(id, true);
}

/** The credentials connector `id` keeps (no secret), or null when it has none or is unknown. */
export async function credentialsOf(t: TestServer, id: string) {
  const c = await hullConnector(t, id);
  return c ? await c.services.credentials.info() : null;
}

/** The ids of the registered Hull connectors, as the store has them. */
export async function registeredIds(t: TestServer): Promise<string[]> {
  return await t.server.ctx.store.listConnectors();
}

/** The live log of connector `id` ("default": the standalone one), flushed first. */
export async function eventsOf(t: TestServer, id = "default", limit = 500): Promise<LogEntry[]> {
  const c = id === "default" ? t.server.ctx.connectors.standalone : await hullConnector(t, id);
  if (!c) return [];
  // What the webhook workers and the instance hold back reaches the store first.
  await t.server.ctx.flush();
  return await c.store.listEvents(limit);
}
