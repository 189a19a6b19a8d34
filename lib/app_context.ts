/**
 * What route handlers may use: the running instance's services, set on every Hono request as
 * `c.var.ctx`. Routes stay thin and call into these.
 */
import type { Server } from "socket.io";
import type { Config } from "./config.ts";
import type { EventLog } from "./events.ts";
import type { Counters } from "./limits.ts";
import type { LiveConfig } from "./live_config.ts";
import type { Store } from "./store.ts";
import type { WebhookDeps } from "./webhook.ts";

export interface AppContext {
  config: Config;
  store: Store;
  live: LiveConfig;
  events: EventLog;
  webhook: WebhookDeps;
  io: Server;
  /** Refusals and limit trips on this instance. */
  counters: Counters;
  startedAt: number;
  /** Absolute path of the built snippet bundle. */
  snippetPath: string;
}

/** Hono environment type shared by the app and every route module. */
export type AppEnv = { Variables: { ctx: AppContext } };
