/**
 * What the installation tab and the readme need: this server's public origin (the script tag
 * names it) and whether the credentials Hull appends to a tab's URL (`ship`, `organization`,
 * `secret`) are those of the connector they name. The secret is compared in constant time and
 * never echoed.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app_context.ts";
import { requestOrigin } from "../proxy.ts";
import type { HullCredentials } from "./credentials.ts";
import {
  type Connector,
  type ConnectorDirectory,
  HULL_CONNECTOR_ID,
} from "../connector/directory.ts";
import type { HullServices } from "./services.ts";

/**
 * `connected`: the URL's credentials are the stored ones; `waiting`: no connector yet;
 * `other`: credentials of another connector (or a wrong secret); `anonymous`: none given.
 */
export type ConnectionStatus = "connected" | "waiting" | "other" | "anonymous";

/**
 * The origin visitors' pages reach this server at: X-Forwarded-Proto/-Host only from a proxy
 * that TRUST_PROXY names, and only a plain `host[:port]` (lib/proxy.ts). Pages naming it must
 * not be cached (`Cache-Control: no-store`): the host comes from the request.
 */
export function publicOrigin(c: Context<AppEnv>): string {
  return requestOrigin(c, c.var.ctx.config.trustProxy);
}

/** Compares the `ship`, `organization` and `secret` query parameters with the stored ones. */
export async function connectionStatus(
  credentials: HullCredentials,
  query: URLSearchParams,
): Promise<ConnectionStatus> {
  const ship = query.get("ship");
  const secret = query.get("secret");
  if (!ship || !secret) return "anonymous";
  const conn = await credentials.current();
  if (!conn) return "waiting";
  const organization = query.get("organization")?.toLowerCase();
  const same = conn.id === ship && (!organization || organization === conn.organization);
  return (await sameSecret(conn.secret, secret)) && same ? "connected" : "other";
}

/**
 * The connector a tab's query names (`ship`) among those registered, and whether the query's
 * credentials are its own: `connector` is set only when they are ("connected"), so nothing of
 * a connector is shown to whoever merely knows its id. An id not registered (yet) is
 * "waiting": Hull's first notification registers it. Throws when the store fails.
 */
export async function installConnection(
  directory: ConnectorDirectory<HullServices>,
  query: URLSearchParams,
): Promise<{ status: ConnectionStatus; connector: Connector<HullServices> | null }> {
  const ship = query.get("ship")?.toLowerCase() ?? "";
  if (!ship || !query.get("secret")) return { status: "anonymous", connector: null };
  const connector = HULL_CONNECTOR_ID.test(ship) ? await directory.get(ship) : null;
  if (!connector) return { status: "waiting", connector: null };
  const status = await connectionStatus(connector.services.credentials, query);
  return { status, connector: status === "connected" ? connector : null };
}

/** Constant-time comparison of two strings through their SHA-256 digests. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (s: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
