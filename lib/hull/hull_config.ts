/**
 * Configuration of the Hull integration: which hosts Hull's signing key may be fetched from,
 * which organizations and connector may bind this deployment (docs/hull_trust.md), where Hull's
 * API lives, and how often profiles may be fetched from it. Parsed with the rest of the
 * environment at boot, so a typo fails loudly with the variable's name.
 */
import { type DomainPattern, isHostName, parseDomainList } from "../domains.ts";

/** Hull's own domains: where its smart-notifier signing key is published. */
export const DEFAULT_HULL_KEY_HOSTS = "hullapp.io,*.hullapp.io,hull.io,*.hull.io";
/** Hull's own domains: where a connector's `organization` lives unless HULL_ORGANIZATIONS says. */
export const DEFAULT_HULL_ORGANIZATIONS = "*.hullapp.io,*.hull.io";
/** A Hull connector id (a 24-hex-digit object id), as HULL_CONNECTOR_ID must be written. */
export const HULL_CONNECTOR_ID = /^[0-9a-f]{24}$/;
/** Hull connectors one deployment registers unless HULL_MAX_CONNECTORS says. */
export const DEFAULT_MAX_CONNECTORS = 20;
/** Profile fetches one instance may start per second (0 turns fetching off). */
export const DEFAULT_FETCHES_PER_SECOND = 10;
/** Minutes before the same visitor may be fetched again, across all instances. */
export const DEFAULT_FETCH_INTERVAL_MINUTES = 15;

export interface HullConfig {
  /** Hosts (wildcards allowed) whose https URLs may serve Hull's public key; empty: none. */
  keyHosts: DomainPattern[];
  /**
   * Organizations (host names, wildcards allowed) whose connectors may bind this deployment and
   * to which requests may go; HULL_ORGANIZATIONS, else Hull's own domains.
   */
  organizations: DomainPattern[];
  /** True when HULL_ORGANIZATIONS set `organizations` (the dashboard says which rule binds). */
  organizationsFromEnv: boolean;
  /** HULL_CONNECTOR_ID: the only connector id that may bind this deployment; null: any. */
  connectorId: string | null;
  /** HULL_MAX_CONNECTORS: most Hull connectors registered at once (1 with HULL_CONNECTOR_ID). */
  maxConnectors: number;
  /** Base URL of Hull's API instead of `https://<organization>`; null: the organization's. */
  apiBaseUrl: string | null;
  /** Profile fetches per second per instance; 0 disables fetching. */
  fetchesPerSecond: number;
  /** Minutes between two fetches of one visitor, across instances. */
  fetchIntervalMinutes: number;
}

type Env = Record<string, string | undefined>;

/** Reads the HULL_* variables; problems are appended to `problems`, one line each. */
export function parseHullConfig(env: Env, problems: string[]): HullConfig {
  const config: HullConfig = {
    keyHosts: [],
    organizations: parseDomainList(DEFAULT_HULL_ORGANIZATIONS),
    organizationsFromEnv: false,
    connectorId: null,
    maxConnectors: DEFAULT_MAX_CONNECTORS,
    apiBaseUrl: null,
    fetchesPerSecond: DEFAULT_FETCHES_PER_SECOND,
    fetchIntervalMinutes: DEFAULT_FETCH_INTERVAL_MINUTES,
  };
  const hosts = env.HULL_KEY_HOSTS?.trim() || DEFAULT_HULL_KEY_HOSTS;
  if (hosts.toLowerCase() !== "none") {
    try {
      config.keyHosts = parseDomainList(hosts);
    } catch (err) {
      problems.push(`HULL_KEY_HOSTS: ${(err as Error).message}`);
    }
  }

  const orgs = env.HULL_ORGANIZATIONS?.trim();
  if (orgs) {
    try {
      const list = parseDomainList(orgs);
      // A connector's organization is where its credentials and visitors' claims are sent:
      // a host name on a domain, never an address or a port a sender could aim elsewhere.
      const bad = list.find((p) => p.port !== undefined || !isHostName(p.host));
      if (bad) {
        problems.push(
          `HULL_ORGANIZATIONS: "${bad.raw}" must be a host name (wildcards allowed), ` +
            "without a port or an IP address",
        );
      } else if (list.length) {
        config.organizations = list;
        config.organizationsFromEnv = true;
      }
    } catch (err) {
      problems.push(`HULL_ORGANIZATIONS: ${(err as Error).message}`);
    }
  }

  const connectorId = env.HULL_CONNECTOR_ID?.trim();
  if (connectorId) {
    if (!HULL_CONNECTOR_ID.test(connectorId)) {
      problems.push(
        "HULL_CONNECTOR_ID must be a Hull connector id (24 lowercase hex digits, as in the " +
          "connector's URL in Hull)",
      );
    } else config.connectorId = connectorId;
  }

  const max = env.HULL_MAX_CONNECTORS?.trim();
  if (max) {
    const n = Number(max);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      problems.push(`HULL_MAX_CONNECTORS must be an integer from 1 to 10000, got "${max}"`);
    } else config.maxConnectors = n;
  }
  if (config.connectorId) config.maxConnectors = 1;

  const base = env.HULL_API_BASE_URL?.trim();
  if (base) {
    let url: URL | null = null;
    try {
      url = new URL(base);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
      problems.push(`HULL_API_BASE_URL must be an http(s) URL, got "${base}"`);
    } else if (url.username || url.password || url.search || url.hash) {
      problems.push("HULL_API_BASE_URL must not carry user info, a query or a fragment");
    } else {
      config.apiBaseUrl = url.href.replace(/\/+$/, "");
    }
  }

  for (
    const [name, key] of [
      ["HULL_FETCH_PER_SECOND", "fetchesPerSecond"],
      ["HULL_FETCH_INTERVAL_MINUTES", "fetchIntervalMinutes"],
    ] as const
  ) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    const n = Number(raw);
    const min = key === "fetchesPerSecond" ? 0 : 1;
    if (!Number.isInteger(n) || n < min || n > 100_000) {
      problems.push(`${name} must be an integer from ${min} to 100000, got "${raw}"`);
    } else config[key] = n;
  }
  return config;
}
