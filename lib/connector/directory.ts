/**
 * The connectors one deployment serves (docs/connectors.md): the standalone connector (id
 * "default": HMAC webhooks, the env seeds, namespace `/`, the store's own keys) and every Hull
 * connector registered by a Hull-signed notification (namespace `/<id>`, keys of its own).
 * Each has its own store scope, settings in force, live log and Hull services. Every instance
 * keeps every registered connector open (a handshake's Origin is checked against the
 * whitelists before its namespace is known), opening one registered elsewhere and closing one
 * removed elsewhere within a sweep; the registry itself is in the store, so all agree on it.
 */
import type { Registration, Store } from "../store/store.ts";
import type { LiveConfig } from "./live_config.ts";
import type { EventLog } from "../events.ts";

/** The id of the standalone connector. */
export const STANDALONE_ID = "default";

/** A Hull connector id as pages name it (`data-hull-id`) and as its namespace is spelled. */
export { HULL_CONNECTOR_ID } from "../hull/hull_config.ts";

/** The socket.io namespace of a connector. */
export const namespaceOf = (id: string) => id === STANDALONE_ID ? "/" : `/${id}`;

/** What one connector is made of on this instance. */
export interface Connector<Services = unknown> {
  /** STANDALONE_ID, or the Hull connector's id. */
  id: string;
  /** "/" for the standalone connector, "/<id>" for a Hull connector. */
  namespace: string;
  /** Its own keys (the root store for the standalone connector). */
  store: Store;
  /** Its settings and whitelist in force. */
  live: LiveConfig;
  /** Its live log (entries land in its store scope only). */
  events: EventLog;
  /** What the composition root adds (Hull credentials, settings sync, status, fetches). */
  services: Services;
}

/** Builds and closes the parts of a connector; given by the composition root. */
export interface ConnectorFactory<Services> {
  /** Opens the parts of connector `id` over `store` (already scoped). */
  open(id: string, store: Store): Promise<Connector<Services>>;
  /** Stops what `open` started (timers, watches, flushes the log); never closes the root. */
  close(connector: Connector<Services>): Promise<void>;
}

/** How long an instance trusts its copy of the registry (a removal elsewhere shows after it). */
const REGISTRY_CACHE_MS = 2_000;

/** The connectors of a deployment, as seen from one instance. */
export class ConnectorDirectory<Services = unknown> {
  #opened = new Map<string, Promise<Connector<Services>>>();
  /** The connectors of `#opened` whose opening finished (read synchronously at handshakes). */
  #ready = new Map<string, Connector<Services>>();
  #registry: { at: number; ids: string[] } | null = null;
  #removedListeners = new Set<(id: string) => void>();
  #sweep: ReturnType<typeof setInterval> | undefined;

  private constructor(
    readonly root: Store,
    private readonly factory: ConnectorFactory<Services>,
    /** The standalone connector (always open). */
    readonly standalone: Connector<Services>,
    private readonly clock: () => number,
  ) {}

  /** Opens the standalone connector and every registered Hull connector. */
  static async create<S>(
    root: Store,
    factory: ConnectorFactory<S>,
    opts: { clock?: () => number; sweepMs?: number } = {},
  ): Promise<ConnectorDirectory<S>> {
    const standalone = await factory.open(STANDALONE_ID, root);
    const dir = new ConnectorDirectory(root, factory, standalone, opts.clock ?? Date.now);
    await dir.sync();
    // Connectors registered or removed on another instance are opened or closed here too.
    dir.#sweep = setInterval(() => dir.sync().catch(() => {}), opts.sweepMs ?? 5_000);
    Deno.unrefTimer(dir.#sweep);
    return dir;
  }

  /** Ids of the registered Hull connectors; `fresh` reads the store, not this instance's copy. */
  async ids(fresh = false): Promise<string[]> {
    const now = this.clock();
    if (!fresh && this.#registry && now - this.#registry.at < REGISTRY_CACHE_MS) {
      return this.#registry.ids;
    }
    const ids = await this.root.listConnectors();
    this.#registry = { at: now, ids };
    return ids;
  }

  /** True for the standalone id and for registered Hull connectors. */
  async has(id: string, fresh = false): Promise<boolean> {
    return id === STANDALONE_ID || (await this.ids(fresh)).includes(id);
  }

  /**
   * The connector `id` (opened here on first use), or null when it is not registered. The
   * standalone connector is `STANDALONE_ID`.
   */
  async get(id: string, fresh = false): Promise<Connector<Services> | null> {
    if (id === STANDALONE_ID) return this.standalone;
    if (!(await this.has(id, fresh))) return null;
    return await this.#open(id);
  }

  /**
   * Connector `id` if it is open here now (the standalone one always is): for handshakes, which
   * must decide without waiting on the store. Registered connectors are open (see `sync`).
   */
  openNow(id: string): Connector<Services> | null {
    return id === STANDALONE_ID ? this.standalone : this.#ready.get(id) ?? null;
  }

  /** Every connector open here now, the standalone one first. */
  allNow(): Connector<Services>[] {
    return [this.standalone, ...this.#ready.values()];
  }

  /**
   * Registers Hull connector `id` unless `max` are registered (atomically across instances),
   * and opens it when it is (or was) registered.
   */
  async register(
    id: string,
    max: number,
  ): Promise<{ result: Registration; connector: Connector<Services> | null }> {
    const result = await this.root.registerConnector(id, max);
    if (result === "full") return { result, connector: null };
    this.#registry = null;
    return { result, connector: await this.#open(id) };
  }

  /**
   * Removes Hull connector `id` and all of its data (settings, credentials, profiles, index,
   * live log, claims). Its sockets here are told through `onRemoved`; other instances notice
   * within their sweep.
   */
  async remove(id: string): Promise<void> {
    if (id === STANDALONE_ID) throw new Error("the standalone connector cannot be removed");
    await this.root.unregisterConnector(id);
    this.#registry = null;
    await this.#closeOne(id);
    await this.#clear(id);
  }

  /** Deletes every key of connector `id`. */
  async #clear(id: string): Promise<void> {
    const scope = this.root.scoped(id);
    try {
      await scope.clear();
    } finally {
      await scope.close();
    }
  }

  /** Calls `fn(id)` when a connector is removed or found removed; returns a stop function. */
  onRemoved(fn: (id: string) => void): () => void {
    this.#removedListeners.add(fn);
    return () => this.#removedListeners.delete(fn);
  }

  /** Closes every connector open here (not the root store). */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await Promise.all([...this.#opened.keys()].map((id) => this.#closeOne(id, false)));
    await this.factory.close(this.standalone);
  }

  #open(id: string): Promise<Connector<Services>> {
    let opening = this.#opened.get(id);
    if (!opening) {
      opening = this.factory.open(id, this.root.scoped(id));
      this.#opened.set(id, opening);
      opening.then(
        (c) => this.#opened.get(id) === opening && this.#ready.set(id, c),
        // A failed open is forgotten, so the next use tries again.
        () => this.#opened.get(id) === opening && this.#opened.delete(id),
      );
    }
    return opening;
  }

  async #closeOne(id: string, tell = true): Promise<void> {
    const opening = this.#opened.get(id);
    this.#opened.delete(id);
    this.#ready.delete(id);
    if (tell) {
      for (const fn of this.#removedListeners) {
        try {
          fn(id);
        } catch (err) {
          console.error(`connector removal listener failed: ${(err as Error).message}`);
        }
      }
    }
    if (!opening) return;
    const connector = await opening.catch(() => null);
    if (connector) {
      await this.factory.close(connector);
      await connector.store.close();
    }
  }

  /**
   * Opens the registered connectors not open here and closes those no longer registered (their
   * sockets told through `onRemoved`). Runs at boot and every sweep; tests call it to skip the
   * wait.
   */
  async sync(): Promise<void> {
    const ids = await this.ids(true);
    for (const id of [...this.#opened.keys()]) {
      if (ids.includes(id)) continue;
      await this.#closeOne(id);
      // Until it closed here, this instance could still write into the scope the remover
      // cleared (a names-seen flush, the live log's last lines, a webhook in flight): what
      // it wrote goes too, unless the id registered again meanwhile.
      if (!(await this.ids(true)).includes(id)) await this.#clear(id);
    }
    await Promise.allSettled(ids.map((id) => this.#open(id)));
  }
}
