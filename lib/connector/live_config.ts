/**
 * A connector's settings and domain whitelist in force on this instance (`Connector.live`):
 * loaded from its store scope at boot and kept current by watching it, so a change made on any
 * instance applies everywhere without a restart. Reads are synchronous because the Origin check
 * runs on every handshake. (It uses the store; the store does not use it.)
 */
import { type DomainPattern, originAllowed, parseDomainPattern } from "../domains.ts";
import type { Store, StoredConfig } from "../store/store.ts";
import type { Settings } from "../types.ts";

export class LiveConfig {
  #settings: Settings;
  #patterns: DomainPattern[];
  #stop: (() => void) | null = null;
  #revision = 0;

  private constructor(config: StoredConfig) {
    this.#settings = config.settings;
    this.#patterns = LiveConfig.#parse(config.domains);
  }

  /** Loads the current config and starts watching the store for changes. */
  static async load(store: Store): Promise<LiveConfig> {
    const live = new LiveConfig(await store.getConfig());
    live.#stop = store.watchConfig((c) => live.apply(c));
    return live;
  }

  /** Replaces the config in force (from the watch, or directly after a local write). */
  apply(config: StoredConfig): void {
    this.#settings = config.settings;
    this.#patterns = LiveConfig.#parse(config.domains);
    this.#revision++;
  }

  /** How many times the config in force was replaced here (a change shows as a new number). */
  get revision(): number {
    return this.#revision;
  }

  get settings(): Settings {
    return this.#settings;
  }

  get domains(): DomainPattern[] {
    return this.#patterns;
  }

  /** True when the `Origin` header belongs to a whitelisted domain. */
  allows(origin: string | null | undefined): boolean {
    return originAllowed(origin, this.#patterns);
  }

  stop(): void {
    this.#stop?.();
    this.#stop = null;
  }

  // Patterns were validated on write; one that no longer parses is skipped, not fatal.
  static #parse(domains: string[]): DomainPattern[] {
    const out: DomainPattern[] = [];
    for (const d of domains) {
      try {
        out.push(parseDomainPattern(d));
      } catch (err) {
        console.error(`ignoring stored domain pattern: ${(err as Error).message}`);
      }
    }
    return out;
  }
}
