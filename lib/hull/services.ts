/**
 * Wiring of the Hull integration: what a deployment shares (one HTTP client, Hull's API
 * client, the key fetcher, the binding rules: `createHullShared`) and what each connector has
 * of its own over its store scope (credentials, settings sync, status, profile fetches:
 * `createHullServices`). Kept here so the boot sequence only creates and closes them.
 */
import type { Config } from "../config.ts";
import type { EventLog } from "../events.ts";
import type { IdentifierHasher } from "../identity.ts";
import type { Counters } from "../metrics.ts";
import type { LiveConfig } from "../connector/live_config.ts";
import type { Publisher } from "../types.ts";
import type { Store } from "../store/store.ts";
import { HullApiClient } from "./api_client.ts";
import { type BindingPolicy, organizationRefusal } from "./connector_binding.ts";
import { HullCredentials } from "./credentials.ts";
import { HullIntegration } from "./integration.ts";
import { HullKeyFetcher } from "./key_fetcher.ts";
import { ProfileFetcher } from "./profile_fetch.ts";
import { HullSettingsSync } from "./settings_sync.ts";
import { HullStatus } from "./status.ts";

/** What every connector of a deployment shares. */
export interface HullShared {
  api: HullApiClient;
  keyFetcher: HullKeyFetcher;
  policy: BindingPolicy;
  /** Releases the HTTP client. */
  close(): void;
}

/** Options of the shared part. */
export interface HullSharedDeps {
  config: Config;
  /**
   * Extra CA certificates (PEM) trusted for Hull's key URL and API, besides the system's; for
   * tests and private proxies. In production, Deno's `DENO_CERT` does the same.
   */
  caCerts?: string[];
  /** Deadline of one key fetch, body included (default 5 s; tests shorten it). */
  keyTimeoutMs?: number;
}

/** Creates what the connectors of one instance share. */
export function createHullShared(deps: HullSharedDeps): HullShared {
  const { config } = deps;
  const client = deps.caCerts?.length
    ? Deno.createHttpClient({ caCerts: deps.caCerts })
    : undefined;
  return {
    api: new HullApiClient({ baseUrl: config.hull.apiBaseUrl, client }),
    keyFetcher: new HullKeyFetcher({
      hosts: config.hull.keyHosts,
      client,
      timeoutMs: deps.keyTimeoutMs,
    }),
    policy: {
      organizations: config.hull.organizations,
      connectorId: config.hull.connectorId,
      maxConnectors: config.hull.maxConnectors,
    },
    close: () => client?.close(),
  };
}

export interface HullServicesDeps {
  /** What the instance's connectors share (closed by its owner, not with these). */
  shared: HullShared;
  config: Config;
  store: Store;
  live: LiveConfig;
  events: EventLog;
  hasher: IdentifierHasher;
  counters: Counters;
  /** The server secret (the credentials' encryption key is derived from it). */
  secret: string;
  /** Clock of the profile fetches' rate limit (tests advance it instead of sleeping). */
  fetchClock?: () => number;
}

/** The Hull integration of one connector. */
export interface HullServices {
  credentials: HullCredentials;
  integration: HullIntegration;
  /** The connector's status for Hull (`/status`) and what it is read from. */
  status: HullStatus;
  /** Set by `startFetching` once the socket server's publisher exists. */
  profiles: ProfileFetcher | null;
  /** Starts fetching unknown visitors' profiles, pushing them through `publish`. */
  startFetching(publish: Publisher): ProfileFetcher;
  /** Waits (at most `ms`) for the connector's fetches in flight. */
  close(ms?: number): Promise<void>;
}

/** Creates the Hull integration of one connector (its store scope, settings and log). */
export async function createHullServices(deps: HullServicesDeps): Promise<HullServices> {
  const { config, store, live, events } = deps;
  const { api, policy } = deps.shared;
  const credentials = await HullCredentials.create(
    store,
    deps.secret,
    (organization) => organizationRefusal(organization, policy.organizations) === null,
  );
  const settings = new HullSettingsSync(store, live, config.identitySecret !== null, events);
  const status = new HullStatus(store, credentials, api);
  const services: HullServices = {
    credentials,
    status,
    integration: new HullIntegration({ credentials, settings, events, policy, status }),
    profiles: null,
    startFetching(publish) {
      return services.profiles = new ProfileFetcher({
        store,
        hasher: deps.hasher,
        events,
        publish,
        settings: () => live.settings,
        credentials,
        api,
        perSecond: config.hull.fetchesPerSecond,
        intervalMinutes: config.hull.fetchIntervalMinutes,
        counters: deps.counters,
        status,
        now: deps.fetchClock,
      });
    },
    async close(ms = 2_000) {
      const idle = services.profiles?.idle();
      if (idle) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([idle, new Promise((r) => timer = setTimeout(r, ms))]);
        clearTimeout(timer);
      }
    },
  };
  return services;
}
