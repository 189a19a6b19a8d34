/**
 * What route handlers may use: the running instance's services, set on every Hono request as
 * `c.var.ctx`. Routes stay thin and call into these.
 */
import type { Server } from "socket.io";
import type { Connector } from "./connector/directory.ts";
import type { Config } from "./config.ts";
import type { EventLog } from "./events.ts";
import type { Metrics } from "./metrics.ts";
import type { AdminAuth, Session } from "./admin/auth.ts";
import type { LogFeed } from "./admin/log_feed.ts";
import type { SeenTracker } from "./webhook/seen.ts";
import type { LiveConfig } from "./connector/live_config.ts";
import type { Store } from "./store/store.ts";
import type { WebhookDeps } from "./webhook/endpoint.ts";
import type { HullServices } from "./hull/services.ts";
import type { ConnectorDirectory } from "./connector/directory.ts";
import type { Publisher } from "./types.ts";

export interface AppContext {
  config: Config;
  store: Store;
  live: LiveConfig;
  events: EventLog;
  webhook: WebhookDeps;
  io: Server;
  /** Counters, latencies and push rate of this instance. */
  metrics: Metrics;
  /** Admin sessions and login throttling. */
  auth: AdminAuth;
  /** Live-log streams of this instance. */
  logFeed: LogFeed;
  /** Attribute names and segments seen in notifications. */
  seen: SeenTracker;
  /** The standalone connector's Hull integration: credentials, settings sync, profile fetches. */
  hull: HullServices;
  /**
   * Every connector this deployment serves (lib/connector/directory.ts); `store`, `live`,
   * `events` and `hull` above are the standalone connector's.
   */
  connectors: ConnectorDirectory<HullServices>;
  /** The publisher of connector `id` ("default": namespace `/`): its namespace only, everywhere. */
  publisherFor(connectorId: string): Publisher;
  /**
   * Writes what this instance and its webhook workers hold back (live-log entries, names seen)
   * to the store now.
   */
  flush(): Promise<void>;
  /**
   * Called after the dashboard changed connector `id`'s settings or whitelist (and applied them
   * here): the webhook workers read them again before it answers.
   */
  configChanged(connectorId: string): Promise<void>;
  startedAt: number;
  /** Absolute path of the built snippet bundle. */
  snippetPath: string;
}

/** Hono environment type shared by the app and every route module. */
export type AppEnv = {
  Variables: {
    ctx: AppContext;
    session?: Session;
    /** The connector a dashboard page is scoped to (`?connector=`; lib/admin/scope.ts). */
    connector?: Connector<HullServices>;
    /** The registered Hull connectors' ids, for the dashboard's connector selector. */
    connectorIds?: string[];
  };
};
