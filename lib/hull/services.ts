/**
 * Wiring of the Hull integration for one instance: credentials, settings sync, connector
 * binding, the key fetcher, the profile fetcher and the status for Hull, sharing one HTTP client. Kept here so the
 * server's boot sequence only creates and closes it.
 */
import type { Config } from "../config.ts";
import type { EventLog } from "../events.ts";
import type { IdentifierHasher } from "../identity.ts";
import type { Counters } from "../metrics.ts";
import type { LiveConfig } from "../store/live_config.ts";
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

export interface HullServicesDeps {
  config: Config;
  store: Store;
  live: LiveConfig;
  events: EventLog;
  hasher: IdentifierHasher;
  counters: Counters;
  /** The server secret (the credentials' encryption key is derived from it). */
  secret: string;
  /**
   * Extra CA certificates (PEM) trusted for Hull's key URL and API, besides the system's; for
   * tests and private proxies. In production, Deno's `DENO_CERT` does the same.
   */
  caCerts?: string[];
  /** Deadline of one key fetch, body included (default 5 s; tests shorten it). */
  keyTimeoutMs?: number;
  /** Clock of the profile fetches' rate limit (tests advance it instead of sleeping). */
  fetchClock?: () => number;
}

/** The Hull integration of one instance. */
export interface HullServices {
  credentials: HullCredentials;
  integration: HullIntegration;
  keyFetcher: HullKeyFetcher;
  /** The connector's status for Hull (`/status`) and what it is read from. */
  status: HullStatus;
  /** Set by `startFetching` once the socket server's publisher exists. */
  profiles: ProfileFetcher | null;
  /** Starts fetching unknown visitors' profiles, pushing them through `publish`. */
  startFetching(publish: Publisher): ProfileFetcher;
  /** Waits (at most `ms`) for fetches in flight, then releases the HTTP client. */
  close(ms?: number): Promise<void>;
}

/** Creates the Hull integration of one instance. */
export async function createHullServices(deps: HullServicesDeps): Promise<HullServices> {
  const { config, store, live, events } = deps;
  const client = deps.caCerts?.length
    ? Deno.createHttpClient({ caCerts: deps.caCerts })
    : undefined;
  const policy: BindingPolicy = {
    organizations: config.hull.organizations,
    connectorId: config.hull.connectorId,
    maxConnectors: 1,
  };
  const credentials = await HullCredentials.create(
    store,
    deps.secret,
    (organization) => organizationRefusal(organization, policy.organizations) === null,
  );
  const settings = new HullSettingsSync(store, live, config.identitySecret !== null, events);
  const api = new HullApiClient({ baseUrl: config.hull.apiBaseUrl, client });
  const status = new HullStatus(store, credentials, api);
  const services: HullServices = {
    credentials,
    status,
    integration: new HullIntegration({ credentials, settings, events, policy, status }),
    keyFetcher: new HullKeyFetcher({
      hosts: config.hull.keyHosts,
      client,
      timeoutMs: deps.keyTimeoutMs,
    }),
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
      client?.close();
    },
  };
  return services;
}
