/**
 * Boots one instance: store → secret → settings seed → live config → event log → one
 * `node:http` server carrying socket.io and the Hono app. `close()` shuts it down in order.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Server } from "socket.io";
import { createApp } from "./app.ts";
import type { AppContext } from "./app_context.ts";
import type { Config } from "./config.ts";
import { IdentifierHasher } from "./identity.ts";
import { type KvAdapterOptions, openKvAdapter } from "./cluster/kv_adapter.ts";
import { openStore } from "./store/factory.ts";
import { openRedisAdapter } from "./cluster/redis_adapter.ts";
import { importHullPublicKey } from "./webhook/signature.ts";
import { createSocketServer } from "./socket/server.ts";
import { SNIPPET_PATH } from "./deploy/preflight.ts";
import type { Store } from "./store/store.ts";
import type { Publisher } from "./types.ts";
import { Metrics } from "./metrics.ts";
import { AdminAuth } from "./admin/auth.ts";
import { answerStats, localSnapshot } from "./admin/cluster.ts";
import { LogFeed } from "./admin/log_feed.ts";
import { SeenTracker } from "./webhook/seen.ts";
import { IdentityVerifier } from "./socket/verification.ts";
import { createHullShared } from "./hull/services.ts";
import { migrateSingleBinding } from "./hull/migration.ts";
import { ConnectorLimit } from "./webhook/connector_limit.ts";
import { delay, drain, openConnectors, webhookParts } from "./instance_parts.ts";
import { type PoolHost, poolSize, WebhookPool, type WorkerInit } from "./webhook/pool.ts";

export interface StartOptions {
  /** Use this store instead of `openStore(config)` (Redis or Deno KV at `config.kvPath`). */
  store?: Store;
  /** Write connector events to stdout (default true). */
  stdoutLog?: boolean;
  /** Where the built snippet lives (default: static/build/hull-browser.js in the repo). */
  snippetPath?: string;
  /** Options of the Deno KV cluster adapter (used when REDIS_URL is unset). */
  kvAdapter?: KvAdapterOptions;
  /** Extra CA certificates (PEM) trusted for Hull's key URL and API (tests, private proxies). */
  hullCaCerts?: string[];
  /** Deadline of one fetch of Hull's key, body included (default 5 s; tests shorten it). */
  hullKeyTimeoutMs?: number;
  /** Clock of the failed-login throttle (tests advance it instead of sleeping). */
  loginClock?: () => number;
  /** Clock of the profile fetches' rate limit (tests advance it instead of sleeping). */
  hullFetchClock?: () => number;
}

export interface RunningServer {
  port: number;
  url: string;
  io: Server;
  http: HttpServer;
  ctx: AppContext;
  /** Webhook workers started (lib/webhook/pool.ts); 0: webhooks are applied here. */
  webhookWorkers: number;
  /** The publisher of connector `id` (STANDALONE_ID: namespace `/`), as webhooks use it. */
  publisherFor(connectorId: string): Publisher;
  close(): Promise<void>;
}

const ROOT = new URL("../", import.meta.url);

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Starts an instance and resolves once it listens. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const store = opts.store ?? await openStore(config);
  let secret = config.secret;
  if (!secret) {
    secret = await store.ensureSecret(randomSecret);
    console.warn(
      "SECRET is not set: using a generated secret kept in the store. Set SECRET in production.",
    );
  }
  const hasher = await IdentifierHasher.create(secret);
  // Seeds that lose to stored settings are named at boot (lib/boot_summary.ts).
  await store.seedIfEmpty({
    settings: config.seed.settings,
    domains: config.seed.domains.map((d) => d.raw),
  });
  const hullPublicKey = config.hullPublicKey
    ? await importHullPublicKey(config.hullPublicKey)
    : null;

  // socket.io wraps the server's request listener and hands it everything not under
  // /socket.io/, so the app is bound late, once the context exists.
  let listener: ReturnType<typeof getRequestListener> | null = null;
  const http = createServer((req, res) => listener!(req, res));
  const verifier = await IdentityVerifier.create(config.identitySecret);
  const metrics = new Metrics();
  const seen = new SeenTracker();
  const hullShared = createHullShared({
    config,
    caCerts: opts.hullCaCerts,
    keyTimeoutMs: opts.hullKeyTimeoutMs,
  });
  // Started once the instance's parts exist (startWebhookPool below).
  let pool: WebhookPool | null = null;
  // Set once the socket server exists: profile fetches push through the connector's namespace.
  let publisherFor: ((connectorId: string) => Publisher) | null = null;
  // Webhooks in flight per connector: also what a connector's removal waits for.
  const webhookLimit = new ConnectorLimit();
  // Each connector's parts over its own store scope (lib/connector/directory.ts).
  const connectors = await openConnectors(store, {
    config,
    secret,
    hasher,
    counters: metrics,
    hullShared,
    stdoutLog: opts.stdoutLog,
    fetchClock: opts.hullFetchClock,
    webhookLimit,
    onOpen: (c) => publisherFor && c.services.startFetching(publisherFor(c.id)),
    // A connector removed or found removed: the workers let go of it before its scope is
    // cleared, so none of them writes into it afterwards (a names-seen flush, a live-log line).
    onClose: async () => await pool?.sync(),
  });
  // The previous release's one Hull connector becomes a connector of its own.
  const migrated = await migrateSingleBinding(store);
  if (migrated) {
    await connectors.sync();
    // Pages of that connector kept on namespace "/" would get no more Hull updates: say so.
    console.warn(
      `Hull connector ${migrated} now has data of its own (docs/connectors.md, "Upgrading"): ` +
        `its pages must name it, <script … data-hull-id="${migrated}">; the Installation tab ` +
        "shows the tag",
    );
  }
  const { live, events, services: hull } = connectors.standalone;
  const logFeed = new LogFeed(store);
  const auth = await AdminAuth.create(secret, config.adminPassword, store, {
    now: opts.loginClock,
  });
  // With REDIS_URL, emits reach the other instances through the Redis streams adapter.
  const redisAdapter = config.redisUrl ? await openRedisAdapter(config.redisUrl) : null;
  // Without Redis, emits reach the other instances through Deno KV (lib/cluster/kv_adapter.ts).
  const kvAdapter = config.redisUrl ? null : await openKvAdapter(config.kvPath, opts.kvAdapter);
  const sockets = createSocketServer(http, {
    connectors,
    hasher,
    verifier,
    limits: config.limits,
    counters: metrics,
    trustProxy: config.trustProxy,
    instance: config.instance,
    nativeWebSockets: config.wsEngine === "native",
  }, redisAdapter?.serverOptions);
  const { io, stop: stopSockets } = sockets;
  // Each connector's pushes reach its own namespace only (lib/socket/server.ts). Connectors
  // opened from now on start fetching in the factory above; those already open start here.
  publisherFor = sockets.publisherFor;
  for (const c of connectors.allNow()) {
    if (!c.services.profiles) c.services.startFetching(publisherFor(c.id));
  }
  const inflight = new Set<Promise<unknown>>();
  const peers = kvAdapter ? () => kvAdapter.livePeers() : undefined;
  const { webhook, flushSeen } = webhookParts({
    config,
    connectors,
    hasher,
    hullShared,
    hullPublicKey,
    metrics,
    seen,
    publisherFor: (id) => publisherFor!(id),
    peers,
    limit: webhookLimit,
    inflight,
  });
  if (kvAdapter) {
    io.adapter(kvAdapter);
    // This instance's record is on the bus before any socket can join a room here, so an
    // instance that counts its peers after storing a batch counts this one (`peers` below).
    await kvAdapter.flush();
  }
  const ctx: AppContext = {
    config,
    store,
    live,
    events,
    io,
    metrics,
    auth,
    logFeed,
    seen,
    hull,
    connectors,
    publisherFor: sockets.publisherFor,
    async flush() {
      await pool?.flush();
      await Promise.all(connectors.allNow().map((c) => c.events.flush()));
      await flushSeen();
    },
    configChanged: async (id) => await pool?.reload(id),
    startedAt: performance.now(),
    snippetPath: opts.snippetPath ?? SNIPPET_PATH,
    webhook,
  };
  // Webhook workers do the webhooks' work; this isolate emits what they send (pool.ts).
  pool = await startWebhookPool(config, opts, secret, {
    metrics,
    async publish(id, pushes, o) {
      // Counted here, after the worker's write: this isolate holds the bus.
      const alone = o?.localOnly || (peers ? await peers().catch(() => null) === 0 : false);
      publisherFor!(id)(pushes, { localOnly: alone });
    },
  });
  if (pool) webhook.pool = pool;
  const app = createApp(ctx, new URL("static", ROOT).pathname);
  // The default replaces the global Response, which breaks Deno.serve in the same process.
  listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });
  answerStats(io, () => localSnapshot(io, metrics, config.instance));
  // Names seen in notifications reach the store (and the settings page) every few seconds.
  const seenTimer = setInterval(flushSeen, 3_000);

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(config.port, config.hostname, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      stopSockets();
      logFeed.close();
      clearInterval(seenTimer);
      // Stops accepting connections (new sockets and requests go to other instances); requests
      // already received carry on.
      const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
      // Webhooks already accepted are finished while the sockets are still connected, so their
      // pushes reach this instance's visitors too (Deploy gives 5 s notice before SIGKILL).
      await drain(inflight, 4_000);
      // Then the workers close their connectors and store handles.
      await pool?.close();
      // Then sockets are closed at the transport level, so clients reconnect (elsewhere,
      // behind a balancer) and identify again; whatever is still open is cut.
      const ioClosed = new Promise<void>((resolve) => io.close(() => resolve()));
      await Promise.race([Promise.all([ioClosed, httpClosed]), delay(500)]);
      http.closeAllConnections?.();
      await redisAdapter?.close();
      // Announces departure, flushes, stops reading and closes its own KV handle.
      await kvAdapter?.close();
      await flushSeen();
      // Every connector's fetches, watches and live log, then the shared HTTP client.
      await connectors.close();
      hullShared.close();
      await store.close();
    })();

  const host = config.hostname === "0.0.0.0" ? "localhost" : config.hostname;
  return {
    port,
    url: `http://${host}:${port}`,
    io,
    http,
    ctx,
    webhookWorkers: pool?.size ?? 0,
    publisherFor: sockets.publisherFor,
    close,
  };
}

/**
 * Starts the webhook workers (`poolSize` says how many). A pool that cannot start (Workers
 * unavailable) leaves the work here, said once.
 */
async function startWebhookPool(
  config: Config,
  opts: StartOptions,
  secret: string,
  host: PoolHost,
): Promise<WebhookPool | null> {
  const { size, refused } = poolSize(config, !!opts.store, navigator.hardwareConcurrency);
  if (refused) console.warn(`WEBHOOK_WORKERS: none started: ${refused}`);
  if (!size) return null;
  const init: WorkerInit = {
    config,
    secret,
    stdoutLog: opts.stdoutLog ?? true,
    hullCaCerts: opts.hullCaCerts,
    hullKeyTimeoutMs: opts.hullKeyTimeoutMs,
  };
  try {
    return await WebhookPool.start(
      new URL("./webhook_worker.ts", import.meta.url),
      size,
      init,
      host,
    );
  } catch (err) {
    console.warn(
      `WEBHOOK_WORKERS: webhooks are processed in the main isolate: ${(err as Error).message}`,
    );
    return null;
  }
}
