/**
 * The webhook dependencies of each Hull connector, made on its first notification and kept
 * while it is open: its store scope, settings, live log, Hull integration, names seen and
 * publisher (pushes reach its namespace only). The standalone connector's are the endpoint's
 * own (WebhookDeps).
 */
import type { Connector } from "../connector/directory.ts";
import type { IdentifierHasher } from "../identity.ts";
import type { MetricsSink } from "../metrics.ts";
import type { HullServices } from "../hull/services.ts";
import type { Publisher } from "../types.ts";
import type { ConnectorDeps } from "./endpoint.ts";
import { SeenTracker } from "./seen.ts";

/** What every connector's dependencies share. */
export interface SharedDeps {
  hasher: IdentifierHasher;
  /** The publisher of connector `id`'s namespace (read at each push). */
  publisherFor: (connectorId: string) => Publisher;
  metrics?: MetricsSink;
  peers?: () => Promise<number>;
}

type Entry = { connector: Connector<HullServices>; deps: ConnectorDeps; seen: SeenTracker };

/** One set of dependencies per open connector. */
export class ConnectorWebhooks {
  #byConnector = new Map<Connector<HullServices>, Entry>();

  constructor(private readonly shared: SharedDeps) {}

  /** The dependencies of `connector` (the same object for as long as it is open). */
  depsFor = (connector: Connector<HullServices>): ConnectorDeps => {
    let entry = this.#byConnector.get(connector);
    if (!entry) {
      const { hasher, metrics, peers, publisherFor } = this.shared;
      const seen = new SeenTracker();
      const deps: ConnectorDeps = {
        connectorId: connector.id,
        store: connector.store,
        events: connector.events,
        hasher,
        publish: (pushes, opts) => publisherFor(connector.id)(pushes, opts),
        settings: () => connector.live.settings,
        hull: connector.services.integration,
        seen,
        metrics,
        peers,
      };
      this.#byConnector.set(connector, entry = { connector, deps, seen });
    }
    return entry.deps;
  };

  /**
   * Merges the names seen into each connector's store; a connector no longer open here
   * (`isOpen` false: removed, its data cleared) is forgotten without a write.
   */
  async flushSeen(isOpen: (connector: Connector<HullServices>) => boolean): Promise<void> {
    for (const [connector, { seen }] of this.#byConnector) {
      if (!isOpen(connector)) {
        this.#byConnector.delete(connector);
        continue;
      }
      await seen.flush(connector.store).catch(() => {});
    }
  }
}
