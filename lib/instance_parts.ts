/**
 * The parts an instance and its webhook workers both build: every connector's parts over its
 * store scope (settings, live log, Hull integration), and the webhook endpoint's dependencies.
 * The socket-holding isolate (lib/server.ts) adds sockets, the dashboard and profile fetches;
 * a webhook worker (lib/webhook_worker.ts) only these.
 */
import type { Config } from "./config.ts";
import { EventLog } from "./events.ts";
import type { IdentifierHasher } from "./identity.ts";
import type { Counters, MetricsSink } from "./metrics.ts";
import type { Store } from "./store/store.ts";
import type { Publisher } from "./types.ts";
import { LiveConfig } from "./connector/live_config.ts";
import {
  type Connector,
  ConnectorDirectory,
  namespaceOf,
  STANDALONE_ID,
} from "./connector/directory.ts";
import { createHullServices, type HullServices, type HullShared } from "./hull/services.ts";
import { HullRegistry } from "./hull/registry.ts";
import { ConnectorWebhooks } from "./webhook/connector_deps.ts";
import type { ConnectorLimit } from "./webhook/connector_limit.ts";
import type { WebhookDeps } from "./webhook/endpoint.ts";
import type { SeenTracker } from "./webhook/seen.ts";

/** A connector as an instance opens it. */
export type OpenConnector = Connector<HullServices>;

/** What opening the connectors needs. */
export interface ConnectorPartsDeps {
  config: Config;
  /** The server secret (credentials are encrypted with a key derived from it). */
  secret: string;
  hasher: IdentifierHasher;
  counters: Counters;
  hullShared: HullShared;
  /** Write connector events to stdout (default true). */
  stdoutLog?: boolean;
  /** Clock of the profile fetches' rate limit. */
  fetchClock?: () => number;
  /** Webhooks in flight per connector: a removal deletes the scope after them. */
  webhookLimit: ConnectorLimit;
  /** Called with each connector once open (the socket-holding isolate starts its fetches). */
  onOpen?: (connector: OpenConnector) => void;
  /**
   * Awaited when a connector closes here, before its parts stop (and, on a removal, before its
   * scope is cleared): the socket-holding isolate has its webhook workers let go of it first.
   */
  onClose?: (connector: OpenConnector) => Promise<void>;
}

/** Opens the directory of every connector (lib/connector/directory.ts) over `store`. */
export function openConnectors(
  store: Store,
  d: ConnectorPartsDeps,
): Promise<ConnectorDirectory<HullServices>> {
  return ConnectorDirectory.create<HullServices>(store, {
    async open(id, scoped) {
      const live = await LiveConfig.load(scoped);
      const events = new EventLog(scoped, {
        instance: d.config.instance,
        connector: id,
        stdout: d.stdoutLog,
        counters: d.counters,
      });
      const services = await createHullServices({
        shared: d.hullShared,
        config: d.config,
        store: scoped,
        live,
        events,
        hasher: d.hasher,
        counters: d.counters,
        secret: d.secret,
        fetchClock: d.fetchClock,
      });
      const connector = { id, namespace: namespaceOf(id), store: scoped, live, events, services };
      d.onOpen?.(connector);
      return connector;
    },
    async close(c) {
      await d.onClose?.(c);
      // Its notifications still being applied here write into its scope: a removal deletes
      // the scope after them (bounded, as the shutdown's drain).
      const { webhookLimit } = d;
      if (webhookLimit.inflight(c.id)) await Promise.race([webhookLimit.idle(c.id), delay(4_000)]);
      c.live.stop();
      await c.services.close();
      await c.events.close();
    },
  });
}

/** What the webhook endpoint's dependencies are made of. */
export interface WebhookPartsDeps {
  config: Config;
  connectors: ConnectorDirectory<HullServices>;
  hasher: IdentifierHasher;
  hullShared: HullShared;
  hullPublicKey: CryptoKey | null;
  metrics: MetricsSink;
  /** Names seen in the standalone connector's notifications. */
  seen: SeenTracker;
  /** The publisher of connector `id` (read at each push). */
  publisherFor: (connectorId: string) => Publisher;
  peers?: () => Promise<number>;
  limit: ConnectorLimit;
  inflight?: Set<Promise<unknown>>;
}

/** The webhook endpoint's dependencies, and the flush of the names seen. */
export function webhookParts(d: WebhookPartsDeps): {
  webhook: WebhookDeps;
  /** Merges the names seen into every open connector's store. */
  flushSeen(): Promise<unknown>;
} {
  const { connectors, hasher, metrics, peers, publisherFor } = d;
  const { store, live, events, services } = connectors.standalone;
  // Hull connectors' notifications are applied with their own scope, log and publisher.
  const perConnector = new ConnectorWebhooks({ hasher, publisherFor, metrics, peers });
  const webhook: WebhookDeps = {
    connectorId: STANDALONE_ID,
    store,
    hasher,
    events,
    publish: (pushes, opts) => publisherFor(STANDALONE_ID)(pushes, opts),
    settings: () => live.settings,
    webhookSecrets: d.config.webhookSecrets,
    hullPublicKey: d.hullPublicKey,
    hullKeyFetcher: d.hullShared.keyFetcher,
    hull: services.integration,
    hullRegistry: new HullRegistry(connectors, d.hullShared.policy),
    depsFor: perConnector.depsFor,
    limit: d.limit,
    inflight: d.inflight,
    metrics,
    seen: d.seen,
    peers,
    async reloadConfig(id) {
      const c = id === STANDALONE_ID ? connectors.standalone : connectors.openNow(id);
      if (c) c.live.apply(await c.store.getConfig());
    },
    async connectorById(id) {
      if (id === STANDALONE_ID) return webhook;
      // One open here needs no store read; one a worker registered a moment ago is opened now
      // (the registry read fresh).
      const connector = connectors.openNow(id) ?? await connectors.get(id, true);
      return connector ? perConnector.depsFor(connector) : undefined;
    },
  };
  const flushSeen = () =>
    Promise.all([
      d.seen.flush(store).catch(() => {}),
      perConnector.flushSeen((c) => connectors.openNow(c.id) === c),
    ]);
  return { webhook, flushSeen };
}

/** A bounded wait: kept referenced, so a close whose parts hang still ends. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `inflight` is empty (work added meanwhile included), at most `ms`. */
export async function drain(inflight: Set<Promise<unknown>>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (inflight.size && Date.now() < deadline) {
    await Promise.race([Promise.allSettled([...inflight]), delay(deadline - Date.now())]);
  }
}
