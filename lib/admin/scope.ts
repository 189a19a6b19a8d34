/**
 * Which connector a dashboard page works on: `?connector=<id>` (the standalone connector when
 * absent), resolved once per request by `adminScope` into `c.var.connector`, so every page
 * reads and writes that connector's store, settings, live log and namespace only. Links, form
 * actions and redirects of a scoped page keep the parameter (`scopedPath`); an unknown id is a
 * 404 that links back to the list of connectors.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppContext, AppEnv } from "../app_context.ts";
import { type Connector, STANDALONE_ID } from "../connector/directory.ts";
import type { HullServices } from "../hull/services.ts";
import type { ProcessorDeps } from "../webhook/notifications.ts";

/** The query parameter naming the connector in scope. */
export const CONNECTOR_PARAM = "connector";

/** A dashboard connector: the standalone one or a registered Hull connector. */
export type ScopedConnector = Connector<HullServices>;

/**
 * `path` with `params`, and the connector parameter when `connectorId` is not the standalone
 * connector (the standalone connector's URLs stay those of a single-connector deployment).
 */
export function scopedPath(
  connectorId: string,
  path: string,
  params: Record<string, string> = {},
): string {
  const query = new URLSearchParams(params);
  if (connectorId !== STANDALONE_ID) query.set(CONNECTOR_PARAM, connectorId);
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

/** The connector in scope of a request that went through `adminScope`. */
export function scopeOf(c: Context<AppEnv>): ScopedConnector {
  return c.var.connector ?? c.var.ctx.connectors.standalone;
}

/** `scopedPath` for the connector in scope of `c`. */
export function scopedUrl(
  c: Context<AppEnv>,
  path: string,
  params: Record<string, string> = {},
): string {
  return scopedPath(scopeOf(c).id, path, params);
}

/**
 * Resolves `?connector=` (pages and the dashboard's API). Unknown ids get a 404: a page that
 * links to the list of connectors (`notFoundPage`, given by the app), or JSON for the API.
 */
export function adminScope(
  notFoundPage: (c: Context<AppEnv>, id: string) => Response,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = c.req.query(CONNECTOR_PARAM) || STANDALONE_ID;
    const { connectors } = c.var.ctx;
    const connector = await connectors.get(id);
    if (!connector) {
      return c.req.path.startsWith("/admin/api/")
        ? c.json({ error: "no such connector" }, 404)
        : notFoundPage(c, id);
    }
    c.set("connector", connector);
    c.set("connectorIds", await connectors.ids());
    await next();
  };
}

/**
 * What applying a notification needs, for the connector in scope: its store, live log, settings
 * and namespace, as its webhooks get them (the dashboard's profile deletion goes through the
 * webhook's code path).
 */
export function processorDepsFor(ctx: AppContext, connector: ScopedConnector): ProcessorDeps {
  const { webhook } = ctx;
  if (connector.id === STANDALONE_ID) return webhook;
  // Never the standalone connector's parts for a Hull connector.
  if (!webhook.depsFor) throw new Error("no webhook dependencies per connector");
  return webhook.depsFor(connector);
}
