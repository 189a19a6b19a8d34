/**
 * Configuration from the environment (docs/contracts.md §1): parsed and validated once at boot so a
 * typo fails loudly with the variable's name instead of misbehaving later.
 */
import { type DomainPattern, parseDomainList } from "./domains.ts";
import { IDENTITY_MODES, type IdentityMode, type Settings } from "./types.ts";
import { DEFAULT_LIMITS, type Limits } from "./socket/limits.ts";
import { type HullConfig, parseHullConfig } from "./hull/hull_config.ts";
import { NO_PROXY, parseTrustProxy, type TrustProxy } from "./proxy.ts";
import { checkBindAddress, checkPublicKeyPem, checkRedisUrl } from "./config_checks.ts";

/** Shortest ADMIN_PASSWORD accepted (the login throttle slows guessing; it cannot make "a" safe). */
export const MIN_ADMIN_PASSWORD_LENGTH = 12;

/** Settings seeded into the store when it holds none yet (docs/contracts.md §1). */
export interface SettingsSeed {
  settings: Settings;
  domains: DomainPattern[];
}

export interface Config {
  port: number;
  hostname: string;
  /** Server secret (sessions, room-name hashing); null means "generate and persist one". */
  secret: string | null;
  adminPassword: string | null;
  /** Accepted webhook secrets (comma-separated in env for receiver-side rotation). */
  webhookSecrets: string[];
  hullPublicKey: string | null;
  kvPath: string | undefined;
  redisUrl: string | null;
  production: boolean;
  seed: SettingsSeed;
  /** Name of this instance in logs (hostname-pid or Deploy's id). */
  instance: string;
  /** Secret shared with the site's backend to sign visitor identities; null: none. */
  identitySecret: string | null;
  /** Abuse limits (per instance). */
  limits: Limits;
  /**
   * TRUST_PROXY: which proxies' X-Forwarded-For/-Host/-Proto are read (lib/proxy.ts); by
   * default none.
   */
  trustProxy: TrustProxy;
  /** Hull integration: key hosts, API base URL, profile-fetch limits. */
  hull: HullConfig;
  /**
   * WebSocket frames: "native" (Deno.upgradeWebSocket, lib/socket/ws_engine.ts; less CPU per
   * frame, ~10 KB more RSS per socket) or "ws" (engine.io's default over node:net).
   */
  wsEngine: "native" | "ws";
  /**
   * WEBHOOK_WORKERS: isolates that do the webhooks' work (lib/webhook/pool.ts); 0: the
   * socket-holding isolate does it; null: from the core count (webhookWorkersFor).
   */
  webhookWorkers: number | null;
}

/** Most webhook workers one instance may start. */
export const MAX_WEBHOOK_WORKERS = 32;

/**
 * Thrown at boot; `problems` holds one line per bad value, each naming its variable, and the
 * message is those lines (control characters escaped, so a value never spans two lines).
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map(oneLine).join("\n"));
    this.name = "ConfigError";
  }
}

/** `problem` with newlines and other control characters escaped as in JSON. */
function oneLine(problem: string): string {
  // deno-lint-ignore no-control-regex
  return problem.replace(/[\x00-\x1f\x7f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

type Env = Record<string, string | undefined>;

/** A comma-separated list: trimmed, empty entries dropped, duplicates removed. */
export function parseList(value: string | undefined): string[] {
  if (!value) return [];
  return [...new Set(value.split(",").map((s) => s.trim()).filter(Boolean))];
}

/** Reads the current process environment (needs --allow-env). */
export function processEnv(): Env {
  return Deno.env.toObject();
}

/**
 * Validates `env` and returns the typed configuration. Every problem is collected so an
 * operator fixes them all in one go.
 */
export function loadConfig(env: Env = processEnv()): Config {
  const problems: string[] = [];
  const production = Boolean(env.DENO_DEPLOY || env.DENO_DEPLOYMENT_ID) ||
    env.NODE_ENV === "production";

  let port = 8000;
  if (env.PORT !== undefined && env.PORT !== "") {
    const n = Number(env.PORT);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      problems.push(`PORT must be an integer from 0 to 65535, got "${env.PORT}"`);
    } else port = n;
  }

  const secret = env.SECRET?.trim() || null;
  if (!secret && production) {
    problems.push("SECRET is required in production (DENO_DEPLOY or NODE_ENV=production)");
  } else if (secret && secret.length < 16) {
    problems.push("SECRET must be at least 16 characters long");
  }

  const webhookSecrets = parseList(env.WEBHOOK_SECRET);
  for (const s of webhookSecrets) {
    if (s.length < 16) {
      problems.push("WEBHOOK_SECRET: every secret must be at least 16 characters long");
      break;
    }
  }

  let hullPublicKey: string | null = null;
  if (env.HULL_PUBLIC_KEY?.trim()) {
    // Env files often carry PEMs with literal "\n"; accept both forms.
    hullPublicKey = env.HULL_PUBLIC_KEY.trim().replaceAll("\\n", "\n");
    const problem = checkPublicKeyPem(hullPublicKey);
    if (problem) {
      problems.push(problem);
      hullPublicKey = null;
    }
  }

  let domains: DomainPattern[] = [];
  try {
    domains = parseDomainList(env.WHITELISTED_DOMAINS ?? "");
  } catch (err) {
    problems.push(`WHITELISTED_DOMAINS: ${(err as Error).message}`);
  }

  const identitySecret = env.IDENTITY_SECRET?.trim() || null;
  if (identitySecret && identitySecret.length < 16) {
    problems.push("IDENTITY_SECRET must be at least 16 characters long");
  }
  let identityMode: IdentityMode | undefined;
  if (env.IDENTITY_MODE?.trim()) {
    const m = env.IDENTITY_MODE.trim() as IdentityMode;
    if (!IDENTITY_MODES.includes(m)) {
      problems.push(`IDENTITY_MODE must be one of ${IDENTITY_MODES.join(", ")}, got "${m}"`);
    } else if (m !== "off" && !identitySecret) {
      problems.push(`IDENTITY_MODE=${m} needs IDENTITY_SECRET`);
    } else identityMode = m;
  }

  const limits = { ...DEFAULT_LIMITS };
  for (
    const [name, key] of [
      ["LIMIT_CONNECTIONS_PER_IP_PER_MINUTE", "connectionsPerIpPerMinute"],
      ["LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE", "connectionsPerConnectorPerMinute"],
      ["LIMIT_FETCHES_PER_SOCKET_PER_MINUTE", "fetchesPerSocketPerMinute"],
      ["LIMIT_IDENTIFIERS_PER_SOCKET", "identifiersPerSocket"],
      ["LIMIT_ROOMS_PER_SOCKET", "roomsPerSocket"],
      ["LIMIT_MESSAGE_BYTES", "messageBytes"],
    ] as const
  ) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) problems.push(`${name} must be a positive integer`);
    else limits[key] = n;
  }
  if (env.LIMITS_MODE?.trim()) {
    const m = env.LIMITS_MODE.trim();
    if (m !== "enforce" && m !== "observe") {
      problems.push(`LIMITS_MODE must be "enforce" or "observe", got "${m}"`);
    } else limits.mode = m;
  }

  const redisUrl = env.REDIS_URL?.trim() || null;
  const redisProblem = redisUrl ? checkRedisUrl(redisUrl) : null;
  if (redisProblem) problems.push(redisProblem);

  const hostname = env.BIND_ADDRESS?.trim() || "0.0.0.0";
  const bindProblem = checkBindAddress(hostname);
  if (bindProblem) problems.push(bindProblem);

  const adminPassword = env.ADMIN_PASSWORD || null;
  if (adminPassword !== null && [...adminPassword].length < MIN_ADMIN_PASSWORD_LENGTH) {
    problems.push(
      `ADMIN_PASSWORD must be at least ${MIN_ADMIN_PASSWORD_LENGTH} characters long`,
    );
  }

  let trustProxy = NO_PROXY;
  try {
    trustProxy = parseTrustProxy(env.TRUST_PROXY);
  } catch (err) {
    problems.push(`TRUST_PROXY ${(err as Error).message}`);
  }
  // Deno Deploy serves https alone: pages name https:// and cookies are Secure there.
  if (env.DENO_DEPLOY || env.DENO_DEPLOYMENT_ID) trustProxy = { ...trustProxy, httpsOnly: true };

  const hull = parseHullConfig(env, problems);
  const wsEngine = env.WS_ENGINE?.trim() || "native";
  if (wsEngine !== "native" && wsEngine !== "ws") {
    problems.push(`WS_ENGINE must be "native" or "ws", got "${wsEngine}"`);
  }

  let webhookWorkers: number | null = null;
  if (env.WEBHOOK_WORKERS?.trim()) {
    const n = Number(env.WEBHOOK_WORKERS.trim());
    if (!Number.isInteger(n) || n < 0 || n > MAX_WEBHOOK_WORKERS) {
      problems.push(`WEBHOOK_WORKERS must be an integer from 0 to ${MAX_WEBHOOK_WORKERS}`);
    } else webhookWorkers = n;
  }

  if (problems.length) throw new ConfigError(problems);

  return {
    port,
    hostname,
    secret,
    adminPassword,
    webhookSecrets,
    hullPublicKey,
    kvPath: env.KV_PATH?.trim() || undefined,
    redisUrl,
    production,
    identitySecret,
    limits,
    trustProxy,
    hull,
    wsEngine: wsEngine as "native" | "ws",
    webhookWorkers,
    instance: env.DENO_DEPLOYMENT_ID
      ? `deploy-${env.DENO_DEPLOYMENT_ID}-${crypto.randomUUID().slice(0, 6)}`
      : `${safeHostname()}-${Deno.pid}`,
    seed: {
      domains,
      settings: {
        public_traits: parseList(env.PUBLIC_TRAITS),
        public_segments: parseList(env.PUBLIC_SEGMENTS),
        public_account_segments: parseList(env.PUBLIC_ACCOUNT_SEGMENTS),
        user_filter_segments: parseList(env.USER_FILTER_SEGMENTS),
        // With an identity secret, verified identities are required unless said otherwise.
        identity_mode: identityMode ?? (identitySecret ? "required" : "off"),
        anonymous_traits: parseList(env.ANONYMOUS_TRAITS),
        anonymous_segments: parseList(env.ANONYMOUS_SEGMENTS),
        anonymous_account_segments: parseList(env.ANONYMOUS_ACCOUNT_SEGMENTS),
      },
    },
  };
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "local";
  }
}
