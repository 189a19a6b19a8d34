/**
 * Applying an authenticated notification to the connector it addresses: validation (a body
 * that is not a notification is refused whole, a malformed message is skipped and logged),
 * the replay claim, the Hull-specific parts (settings from Hull, credentials), then profiles
 * and pushes, all with that connector's dependencies (store scope, settings, live log,
 * publisher).
 */
import type { EventLog } from "../events.ts";
import {
  processNotification,
  type ProcessorDeps,
  type SkippedMessage,
  validateNotification,
  type Validation,
} from "./notifications.ts";
import type { Store } from "../store/store.ts";
import { isStoreOutage } from "../store/outage.ts";
import type { SeenTracker } from "./seen.ts";
import type { HullIntegration } from "../hull/integration.ts";
import type { Binding } from "../hull/connector_binding.ts";
import { errorAnswer as fail, FLOW_CONTROL, unavailable, type WebhookAnswer } from "./answers.ts";

/** How long a processed notification id is remembered. */
export const REPLAY_WINDOW_MS = 24 * 3600_000;

/** What applying a notification needs, for the one connector it addresses. */
export interface ConnectorDeps extends ProcessorDeps {
  /** The connector's id (absent: the standalone connector, "default"). */
  connectorId?: string;
  /** The connector's store scope (profiles, index, replay claims, settings). */
  store: Store;
  /** The connector's live log. */
  events: EventLog;
  /** The connector's settings from Hull, credentials and status (Hull-signed bodies). */
  hull?: HullIntegration;
  /** Optional: notes attribute names and segments seen, for the settings page. */
  seen?: SeenTracker;
}

/** Thrown by the claim when the notification was applied before. */
const REPLAYED = Symbol("replayed");

/**
 * Validates and applies an authenticated body with the dependencies of the connector it
 * addresses: `binding` is the connection a Hull-signed body acts as (its credentials are
 * kept), null for our own HMAC webhooks. `slot`, when given, runs the applying part in one of
 * the connector's webhook slots.
 */
export async function accept(
  body: unknown,
  binding: Binding | null,
  deps: ConnectorDeps,
  receivedAt: number,
  slot?: (work: () => Promise<WebhookAnswer>) => Promise<WebhookAnswer>,
): Promise<WebhookAnswer> {
  const valid = validateNotification(body);
  if (!valid.ok) return fail(400, valid.error);
  return slot
    ? await slot(() => apply(valid, binding, deps, receivedAt))
    : await apply(valid, binding, deps, receivedAt);
}

/** Applies a valid notification (replay claim, Hull settings and credentials, profiles). */
async function apply(
  valid: Validation & { ok: true },
  binding: Binding | null,
  deps: ConnectorDeps,
  receivedAt: number,
): Promise<WebhookAnswer> {
  const n = valid.notification;
  /** The 200 of an applied batch; its skipped messages are logged then (a replay is not). */
  const applied = (): WebhookAnswer => {
    logSkipped(deps.events, n.channel, valid.skipped);
    return okAnswer(valid.skipped);
  };
  // Segment names for the settings page: from every channel (ship:update carries them all);
  // messages only where they were validated.
  if (n.channel === "user:update") deps.seen?.observe(n);
  else deps.seen?.observe({ ...n, messages: [] });

  // A user:update batch is claimed with its profiles' write (one store round trip, see
  // SaveOptions.claim); other channels, and a batch whose connector settings must be written
  // first, are claimed here before anything is written.
  let claimed: boolean | null = null; // null: not yet
  const claimNow = async () => {
    claimed ??= await deps.store.claimNotification(n.notification_id, REPLAY_WINDOW_MS);
    if (!claimed) throw REPLAYED;
  };
  const replayed = (): WebhookAnswer => {
    deps.events.emit("incoming.user.start", {
      message: `replayed notification ${n.notification_id.slice(0, 64)} ignored: already ` +
        `applied (${n.channel})`,
    });
    return { status: 200, body: { ...FLOW_CONTROL, replayed: true } };
  };
  try {
    if (n.channel !== "user:update") await claimNow();
    await deps.hull?.apply(n, binding, claimNow);
  } catch (err) {
    if (err === REPLAYED) return replayed();
    if (claimed) await deps.store.releaseNotification(n.notification_id).catch(() => {});
    // The store is unreachable (Redis down): Hull retries a 503 later.
    if (isStoreOutage(err)) return unavailable();
    return fail(500, `could not apply the connector's settings: ${(err as Error).message}`);
  }
  // Every message was left out: nothing to apply or to remember (a retry would skip them too).
  if (valid.skipped.length && !n.messages?.length) return applied();
  try {
    const claim = claimed === null ? { id: n.notification_id, ttlMs: REPLAY_WINDOW_MS } : undefined;
    const result = await processNotification(n, deps, receivedAt, claim);
    if (result.replayed) return replayed();
    if (result.channel !== "user:update") {
      deps.events.emit("incoming.user.start", {
        message: `${n.channel} ${
          n.channel === "ship:update" || n.channel === "segment:update" ? "acknowledged" : "ignored"
        }`,
      });
    }
    return applied();
  } catch (err) {
    // Forget the id so Hull's retry is applied (a claim taken with the write is released by
    // the store); the error names no secret or identifier.
    if (claimed) await deps.store.releaseNotification(n.notification_id).catch(() => {});
    if (isStoreOutage(err)) return unavailable();
    return fail(500, `could not apply notification: ${(err as Error).message}`);
  }
}

/** Most skipped messages named in one answer's `errors` (all are in the live log). */
const MAX_ANSWER_ERRORS = 20;

/** The 200 answer, naming the messages left out (positions and reasons, never a value). */
function okAnswer(skipped: SkippedMessage[]): WebhookAnswer {
  if (!skipped.length) return { status: 200, body: FLOW_CONTROL };
  const errors = skipped.slice(0, MAX_ANSWER_ERRORS).map((s) => `skipped ${s.reason}`);
  return { status: 200, body: { ...FLOW_CONTROL, errors, skipped: skipped.length } };
}

/** One `outgoing.user.error` per message left out of a batch: why, and masked identifiers. */
function logSkipped(events: EventLog, channel: string, skipped: SkippedMessage[]): void {
  events.emitMany(
    "outgoing.user.error",
    skipped.map((s) => ({
      identifiers: s.identifiers,
      message: `${channel} message skipped, the rest of the batch applied: ${s.reason}`
        .slice(0, 200),
    })),
  );
}
