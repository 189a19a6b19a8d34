/**
 * What an operator reads when an instance starts: where it really listens (and a URL to click
 * on this machine), whether the dashboard and webhook authentication are on and why, how many
 * domains may connect, where the data lives; the environment seeds that lost to settings
 * already stored, by name; and a failure to start (port in use, store unreachable) as one line
 * instead of a stack trace. `main.ts` prints what these functions return.
 */
import type { Config } from "./config.ts";
import type { StoredConfig } from "./types.ts";
import { onDeploy } from "./deploy/preflight.ts";
import { ignoredSeeds, ignoredSeedsNotice } from "./seeds.ts";
import type { Settings } from "./types.ts";

type Env = Record<string, string | undefined>;

/**
 * The seed variables that are set in `env` but differ from what the store holds, so they had
 * no effect (seeds apply to an empty store only). Variables not set are never named (an
 * identity mode implied by IDENTITY_SECRET alone is not a seed the operator wrote).
 */
export function lostSeeds(config: Config, env: Env, stored: StoredConfig): string[] {
  return ignoredSeeds(config.seed, stored).filter((name) => Boolean(env[name]?.trim()));
}

/** The one warning line for {@link lostSeeds}, or none. */
export function lostSeedsLine(names: string[]): string[] {
  return names.length ? [ignoredSeedsNotice(names)] : [];
}

/** The facts of a running instance, one line each (the first names the URL it listens on). */
export function bootSummary(
  config: Config,
  port: number,
  env: Env,
  stored: StoredConfig,
  workers = 0,
) {
  return [
    listeningLine(config.hostname, port, config.instance),
    `  dashboard: ${dashboardLine(config)}`,
    `  webhooks:  ${webhookLine(config)}`,
    `  domains:   ${domainsLine(stored.domains)}`,
    `  store:     ${storeLine(config, env)}`,
    `  workers:   ${workersLine(workers)}`,
  ];
}

function workersLine(n: number): string {
  return n
    ? `${n} webhook worker${n > 1 ? "s" : ""}: webhooks are applied beside the sockets ` +
      "(WEBHOOK_WORKERS)"
    : "none: webhooks are applied in the isolate holding the sockets (WEBHOOK_WORKERS)";
}

/** "listening on <bound URL>", plus a URL to open on this machine when bound to every address. */
export function listeningLine(hostname: string, port: number, instance: string): string {
  const wildcard = hostname === "0.0.0.0" || hostname === "::";
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const local = wildcard ? `every interface; on this machine: http://localhost:${port}; ` : "";
  // The URL is followed by a space: tests and scripts read it up to there.
  return `hull-browser listening on http://${host}:${port} (${local}instance ${instance})`;
}

function dashboardLine(config: Config): string {
  return config.adminPassword
    ? "on at /admin (password: ADMIN_PASSWORD)"
    : "off: ADMIN_PASSWORD is not set, so /admin signs no one in";
}

function webhookLine(config: Config): string {
  const n = config.webhookSecrets.length;
  const hmac = n
    ? `signed with WEBHOOK_SECRET (${n} secret${n > 1 ? "s" : ""})`
    : "WEBHOOK_SECRET is not set, so no self-signed webhook is accepted";
  const hosts = config.hull.keyHosts.map((d) => d.raw);
  const hull = config.hullPublicKey
    ? "Hull-signed with the key pinned by HULL_PUBLIC_KEY"
    : hosts.length
    ? `Hull-signed with keys fetched from ${hosts.join(", ")}`
    : "no Hull-signed one either (HULL_KEY_HOSTS=none, no HULL_PUBLIC_KEY)";
  return `${hmac}; ${hull}`;
}

function domainsLine(domains: string[]): string {
  if (!domains.length) {
    return "none whitelisted, so no page can connect yet: add one at /admin/domains " +
      "(or set WHITELISTED_DOMAINS before the first boot)";
  }
  const shown = domains.slice(0, 3).join(", ") + (domains.length > 3 ? ", …" : "");
  return `${domains.length} whitelisted (${shown})`;
}

function storeLine(config: Config, env: Env): string {
  if (config.redisUrl) return `Redis at ${withoutCredentials(config.redisUrl)}`;
  if (config.kvPath) return `Deno KV at ${config.kvPath} (KV_PATH)`;
  return onDeploy(env)
    ? "Deno KV, the database attached to the app"
    : "Deno KV at Deno's default location for main.ts (set KV_PATH to choose a file)";
}

function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.href.replace(/\/$/, "");
  } catch {
    return "(unparsable REDIS_URL)";
  }
}

/** Prints the boot summary (stdout) and the seeds that lost to stored settings (stderr). */
export function reportBoot(
  config: Config,
  env: Env,
  server: {
    port: number;
    webhookWorkers: number;
    ctx: { live: { settings: Settings; domains: { raw: string }[] } };
  },
): void {
  const { live } = server.ctx;
  const stored = { settings: live.settings, domains: live.domains.map((d) => d.raw) };
  const lines = bootSummary(config, server.port, env, stored, server.webhookWorkers);
  for (const line of lines) console.log(line);
  for (const line of lostSeedsLine(lostSeeds(config, env, stored))) console.warn(line);
}
