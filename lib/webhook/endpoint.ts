/**
 * The smart-notifier endpoint's logic, independent of the HTTP framework: authenticate the raw
 * bytes (our HMAC, or Hull's token plus the body's connector id and secret, see
 * docs/hull_trust.md), find the connector addressed (HMAC: the standalone one; Hull's token:
 * the registered connector the body names, registered once the token verified), then parse,
 * validate, refuse replays and apply, all within that connector's store scope, settings, live
 * log and publisher. Every refusal happens before anything is written, so a rejected request
 * changes nothing.
 */
import type { EventLog } from "../events.ts";
import { verifyHmacSignature, verifyHullJwt } from "./signature.ts";
import { isStoreOutage } from "../store/outage.ts";
import { accept, type ConnectorDeps, REPLAY_WINDOW_MS } from "./apply.ts";
import { errorAnswer, unavailable, type WebhookAnswer } from "./answers.ts";
import type { HullKeyFetcher } from "../hull/key_fetcher.ts";
import type { HullConnector, HullRegistry } from "../hull/registry.ts";
import { ConnectorLimit } from "./connector_limit.ts";
import { STANDALONE_ID } from "../connector/directory.ts";
import {
  canVerifyHull,
  hullKeyAtHand,
  type HullKeySource,
  hullSigningKey,
} from "../hull/signing_key.ts";
import type { Binding } from "../hull/connector_binding.ts";
import type { WebhookRunner } from "./pool.ts";

export { errorAnswer, FLOW_CONTROL, type WebhookAnswer } from "./answers.ts";
export { type ConnectorDeps, REPLAY_WINDOW_MS } from "./apply.ts";

export const HMAC_HEADER = "x-hull-browser-signature";
export const HULL_JWT_HEADER = "x-hull-smart-notifier-signature";
/** Largest accepted body (docs/contracts.md §3: 20 MB, as Hull's SDK accepts). */
export const MAX_BODY_BYTES = 20 * 1024 * 1024;

/**
 * The endpoint's dependencies: the standalone connector's (HMAC-signed webhooks address it),
 * plus what every connector shares.
 */
export interface WebhookDeps extends ConnectorDeps {
  webhookSecrets: string[];
  hullPublicKey: CryptoKey | null;
  /** Fetches Hull's key from the URL a request names, on allowed hosts only (HULL_KEY_HOSTS). */
  hullKeyFetcher?: HullKeyFetcher;
  /** The Hull connectors: which one a Hull-signed body speaks for (none: such bodies get 403). */
  hullRegistry?: HullRegistry;
  /** The dependencies of a Hull connector (the caller keeps one set per connector). */
  depsFor?: (connector: HullConnector) => ConnectorDeps;
  /** Webhooks in flight per connector on this instance (default: 8 each). */
  limit?: ConnectorLimit;
  /** Webhooks being processed; shutdown waits for them so an accepted batch is finished. */
  inflight?: Set<Promise<unknown>>;
  /**
   * The webhook workers (pool.ts): when set, a request's work is done in one of them, and this
   * isolate records the answer and emits the pushes the worker sends.
   */
  pool?: WebhookRunner;
  /** The dependencies of connector `id` here (a worker's answer names its connector by id). */
  connectorById?: (id: string) => Promise<ConnectorDeps | undefined>;
  /** Reloads connector `id`'s settings in force from the store (a worker changed them). */
  reloadConfig?: (id: string) => Promise<void>;
}

/** The short name used below. */
const fail = errorAnswer;

/** Handles one POST /smart-notifier. `headers.get` must be case-insensitive (Headers is). */
export function handleSmartNotifier(
  raw: Uint8Array,
  headers: Headers,
  deps: WebhookDeps,
): Promise<WebhookAnswer> {
  const receivedAt = performance.now();
  const answered = deps.pool
    ? inWorker(deps.pool, raw, headers, deps, receivedAt)
    : answerWebhook(raw, headers, deps, receivedAt);
  const work = answered.then((a) => {
    deps.metrics?.inc(a.status === 200 ? "webhooks_received" : "webhooks_refused");
    if (a.status !== 200) {
      const by = a.connector ?? deps;
      if (!a.quiet) logRefusal(by.events, a);
      // Counted for a connector the request names (never for anonymous junk).
      a.connector?.hull?.refused(String(a.body.error ?? ""));
    }
    return a;
  });
  if (!deps.inflight) return work;
  deps.inflight.add(work);
  return work.finally(() => deps.inflight!.delete(work));
}

/**
 * The answer to one request, worked out in this isolate with `deps` (a webhook worker's, or
 * the instance's without workers); a refusal is neither counted nor logged here.
 */
export function answerWebhook(
  raw: Uint8Array,
  headers: Headers,
  deps: WebhookDeps,
  receivedAt: number,
): Promise<WebhookAnswer> {
  return answer(raw, headers, deps, receivedAt).catch((err) => {
    // A store read before anything was claimed or written failed: nothing to undo.
    if (isStoreOutage(err)) return unavailable();
    throw err;
  });
}

/** The answer a webhook worker gives, about the connector it names as this isolate has it. */
async function inWorker(
  pool: WebhookRunner,
  raw: Uint8Array,
  headers: Headers,
  deps: WebhookDeps,
  receivedAt: number,
): Promise<WebhookAnswer> {
  const { connectorId, configChanged, ...a } = await pool.answer(raw, headers, receivedAt);
  if (connectorId && configChanged) await deps.reloadConfig?.(connectorId).catch(() => {});
  // A connector the worker registered is opened here before the answer, so its pages may
  // connect to its namespace as soon as Hull has its 200.
  const connector = connectorId
    ? await deps.connectorById?.(connectorId).catch(() => undefined)
    : undefined;
  return connector ? { ...a, connector } : a;
}

/**
 * Puts a refused webhook in the live log: the status and the reason only. A JSON parse error
 * quotes the body, so it is logged without its details; no reason names a secret.
 */
function logRefusal(events: EventLog, a: WebhookAnswer): void {
  const reason = String(a.body.error ?? "");
  const safe = reason.startsWith("body is not valid JSON") ? "body is not valid JSON" : reason;
  events.emit("incoming.connection.error", {
    message: `webhook refused (${a.status}): ${safe.slice(0, 200)}`,
  });
}

async function answer(
  raw: Uint8Array,
  headers: Headers,
  deps: WebhookDeps,
  receivedAt: number,
): Promise<WebhookAnswer> {
  if (raw.length > MAX_BODY_BYTES) {
    return fail(413, `body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  const hmacHeader = headers.get(HMAC_HEADER);
  const jwt = headers.get(HULL_JWT_HEADER);
  const keys: HullKeySource = { pinned: deps.hullPublicKey, fetcher: deps.hullKeyFetcher ?? null };
  if (!deps.webhookSecrets.length && !canVerifyHull(keys)) {
    return fail(
      401,
      "webhook authentication is not configured: set WEBHOOK_SECRET (or HULL_PUBLIC_KEY)",
    );
  }
  if (hmacHeader && !jwt && !deps.webhookSecrets.length) {
    return fail(401, "X-Hull-Browser-Signature: WEBHOOK_SECRET is not set on this server");
  }
  if (hmacHeader && deps.webhookSecrets.length) {
    // Our own webhooks address the standalone connector: no binding, no Hull credentials.
    const v = await verifyHmacSignature(hmacHeader, raw, deps.webhookSecrets);
    if (!v.ok) return fail(401, `X-Hull-Browser-Signature: ${v.reason}`);
    let body: unknown;
    try {
      body = parseJson(raw);
    } catch (err) {
      return fail(400, `body is not valid JSON: ${(err as Error).message}`);
    }
    // A slot is taken once the body is a notification: malformed junk costs no store work.
    const slot = (work: () => Promise<WebhookAnswer>) => limited(deps, STANDALONE_ID, deps, work);
    return { ...await accept(body, null, deps, receivedAt, slot), connector: deps };
  }
  if (jwt && canVerifyHull(keys)) {
    return await hullSigned(raw, headers, jwt, keys, deps, receivedAt);
  }
  const expected = [
    deps.webhookSecrets.length ? "X-Hull-Browser-Signature" : "",
    canVerifyHull(keys) ? "X-Hull-Smart-Notifier-Signature" : "",
  ].filter(Boolean).join(" or ");
  return fail(401, `missing signature: send ${expected}`);
}

const parseJson = (raw: Uint8Array): unknown =>
  JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));

/** How old a Hull token may be: no older than the notification ids are remembered. */
const TOKEN_AGE = { maxAgeSeconds: REPLAY_WINDOW_MS / 1000 };

/**
 * A request carrying Hull's token. Hull signs `jti` = `notification_id`, not the body, so the
 * body's connector (`configuration.id` and `secret`) is checked first: a body that could change
 * nothing here is refused before any key is fetched for it, so junk cannot use up the key
 * fetches a genuine notification needs. Then the key, the token (jti, age), the shape.
 */
async function hullSigned(
  raw: Uint8Array,
  headers: Headers,
  jwt: string,
  keys: HullKeySource,
  deps: WebhookDeps,
  receivedAt: number,
): Promise<WebhookAnswer> {
  let body: unknown;
  try {
    body = parseJson(raw);
  } catch (err) {
    // Parsing details only to a sender whose token verifies with a key at hand; no key is
    // fetched for a body that cannot be a notification.
    const key = hullKeyAtHand(headers, keys);
    if (!key) return fail(400, "body is not valid JSON");
    const v = await verifyHullJwt(jwt, key, "", TOKEN_AGE);
    if (!v.ok && !/jti/i.test(v.reason)) {
      return fail(401, `X-Hull-Smart-Notifier-Signature: ${v.reason}`);
    }
    return fail(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  const { hullRegistry: registry, depsFor } = deps;
  if (!registry || !depsFor) {
    return fail(403, "Hull-signed notifications need the Hull integration");
  }
  let binding: Binding;
  let named: HullConnector | null;
  try {
    ({ binding, connector: named } = await registry.authorize(body));
  } catch (err) {
    // The registry is read from the store: if it cannot be read, nothing is applied.
    if (isStoreOutage(err)) return unavailable();
    return fail(500, `could not check the connector's binding: ${(err as Error).message}`);
  }
  // A refusal naming a registered connector goes to its live log; others to the standalone's.
  const namedDeps = named ? depsFor(named) : undefined;
  const about = (a: WebhookAnswer): WebhookAnswer => namedDeps ? { ...a, connector: namedDeps } : a;
  if (!binding.ok) return about(fail(binding.status, binding.reason));
  const allowed = binding;

  // The connector's slot is held from the key on: a flood of one connector's notifications
  // (with its secret) waits on its own slots, never on another connector's.
  return await limited(deps, allowed.connection.id, namedDeps, async () => {
    const k = await hullSigningKey(headers, jwt, keys);
    if (!k.ok) return about(fail(k.status, `X-Hull-Smart-Notifier-Signature: ${k.reason}`));
    const notificationId = (body as { notification_id?: unknown })?.notification_id;
    const v = await verifyHullJwt(
      jwt,
      k.key,
      typeof notificationId === "string" ? notificationId : "",
      TOKEN_AGE,
    );
    if (!v.ok) return about(fail(401, `X-Hull-Smart-Notifier-Signature: ${v.reason}`));
    // Only now, with the token verified, may an unknown connector be registered.
    let admitted;
    try {
      admitted = await registry.admit(allowed);
    } catch (err) {
      if (isStoreOutage(err)) return unavailable();
      return fail(500, `could not register the connector: ${(err as Error).message}`);
    }
    if (!admitted.ok) {
      const a = fail(admitted.status, admitted.reason);
      return admitted.connector ? { ...a, connector: depsFor(admitted.connector) } : a;
    }
    const cdeps = depsFor(admitted.connector);
    return { ...await accept(body, allowed, cdeps, receivedAt), connector: cdeps };
  });
}

/** The limit used when the deps name none (one per deps object). */
const defaultLimits = new WeakMap<WebhookDeps, ConnectorLimit>();

/**
 * Runs `work` in one of connector `id`'s webhook slots on this instance; when they are all
 * taken, answers 429 with `flow_control` "retry" and Retry-After at once, about `connector`
 * (the first refusal of a burst is logged, the rest are counted only).
 */
async function limited(
  deps: WebhookDeps,
  id: string,
  connector: ConnectorDeps | undefined,
  work: () => Promise<WebhookAnswer>,
): Promise<WebhookAnswer> {
  let limit = deps.limit ?? defaultLimits.get(deps);
  if (!limit) defaultLimits.set(deps, limit = new ConnectorLimit());
  const slot = limit.enter(id);
  if (!slot.ok) {
    const a = fail(
      429,
      `connector ${id} has ${slot.inflight} notifications in flight on this instance, the most ` +
        "it may: retry later",
    );
    return { ...a, ...(connector ? { connector } : {}), quiet: !slot.firstOfBurst };
  }
  try {
    return await work();
  } finally {
    slot.release();
  }
}
