/**
 * The connector's status as Hull shows it (docs/hull.md): what Hull's cron asks at `/status`
 * (the manifest's `schedules`), answered `{ status, messages }` with a status of Hull's SDK
 * (`ok`, `warning`, `error`, `setupRequired`) and pushed to `PUT /api/v1/<id>/status`, as
 * Hull's SDK and its connectors do. It owns the small shared record the status is read from
 * (the last notification, the last Hull API failure and success), written at most once a
 * minute per instance, and the check of the cron's credentials (its connector's id,
 * organization and secret as query parameters, the secret compared in constant time).
 * Messages name no secret and no visitor: reasons and times only.
 */
import type { Store } from "../store/store.ts";
import type { ConnectorStatus, HullApiClient } from "./api_client.ts";
import { sameSecret } from "./connector_binding.ts";
import type { HullCredentials } from "./credentials.ts";
import { loadManaged, type ManagedDoc } from "./settings_sync.ts";

const META = "hull_health";
/** Least time between two writes of the record by one instance when nothing changed. */
const WRITE_EVERY_MS = 60_000;
/** No notification for this long: Hull may have stopped sending (a warning). */
export const QUIET_MS = 24 * 3600_000;
/** An API failure this recent, with no success since, makes the status an error. */
export const API_WINDOW_MS = 3600_000;

/** The shared record (times in ms since the epoch), one store key per field. */
export interface HealthDoc {
  last_notification?: number;
  api_ok?: number;
  api_failed?: { at: number; reason: string };
  /** Hull's name of the connector, from its last notification. */
  name?: string;
  /** The last notification for this connector that was refused (no secret in the reason). */
  last_refusal?: { at: number; reason: string };
}

/** The answer of `/status`, as Hull's SDK answers it. */
export interface StatusAnswer {
  status: ConnectorStatus;
  messages: string[];
}

/** What the status is computed from. */
export interface StatusInput {
  /** This connector's credentials; null: Hull never sent a notification. */
  connection:
    | { updated_at: number; secret_readable: boolean; organization_allowed: boolean }
    | null;
  managed: ManagedDoc;
  health: HealthDoc;
  now: number;
}

const RANK: Record<ConnectorStatus, number> = { ok: 0, warning: 1, error: 2, setupRequired: 3 };
const hours = (ms: number) => Math.round(ms / 3600_000);

/** The status and its messages (pure; the worst status of every check wins). */
export function connectorStatus(input: StatusInput): StatusAnswer {
  const { connection, managed, health, now } = input;
  if (!connection) {
    return {
      status: "setupRequired",
      messages: ["no notification from Hull yet: save the connector's settings in Hull"],
    };
  }
  let status: ConnectorStatus = "ok";
  const messages: string[] = [];
  const note = (s: ConnectorStatus, message: string) => {
    if (RANK[s] > RANK[status]) status = s;
    messages.push(message.slice(0, 300));
  };
  if (!connection.secret_readable) {
    note("error", "the stored connector secret cannot be read (the server's SECRET changed)");
  }
  if (!connection.organization_allowed) {
    note("error", "the connector's organization is not in HULL_ORGANIZATIONS any more");
  }
  if (managed.refused) note("error", `settings from Hull refused: ${managed.refused.reason}`);
  for (const p of managed.problems) note("warning", `setting not applied: ${p}`);
  const failed = health.api_failed;
  if (failed && now - failed.at <= API_WINDOW_MS) {
    const recovered = (health.api_ok ?? 0) > failed.at;
    note(
      recovered ? "warning" : "error",
      `Hull's API ${recovered ? "failed" : "fails"} for profile fetches: ${failed.reason}` +
        ` (${new Date(failed.at).toISOString()})`,
    );
  }
  const last = Math.max(health.last_notification ?? 0, connection.updated_at);
  if (now - last > QUIET_MS) {
    note("warning", `no notification from Hull for ${hours(now - last)} hours`);
  }
  return { status, messages };
}

/** Why a cron call is refused (401: no credentials, 403: not this connector's), or null. */
export type CronAuth = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** Records what the status is read from, answers and pushes it. */
export class HullStatus {
  /** Per record: what was last written by this instance, and when. */
  #written = new Map<string, { state: string; at: number }>();
  #refusals = 0;

  constructor(
    private readonly store: Store,
    private readonly credentials: HullCredentials,
    private readonly api: HullApiClient,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A notification of the connector was applied (`name`: Hull's name of it). Never throws. */
  notification(name: string | null = null): void {
    this.#record("last_notification", "seen", this.clock());
    if (name !== null) this.#record("name", name, name);
  }

  /** A notification naming this connector was refused. Never throws. */
  refusal(reason: string): void {
    this.#refusals++;
    const short = reason.slice(0, 200);
    // One state for every reason: refusals cost at most a write a minute per instance.
    this.#record("last_refusal", "refused", { at: this.clock(), reason: short });
  }

  /** Notifications naming this connector refused by this instance since it started. */
  get refusalsHere(): number {
    return this.#refusals;
  }

  /** The shared record the status is read from. Throws when the store fails. */
  async health(): Promise<HealthDoc> {
    const fields = ["last_notification", "api_ok", "api_failed", "name", "last_refusal"] as const;
    const values = await Promise.all(fields.map((f) => this.store.getMeta(`${META}.${f}`)));
    const doc: Record<string, unknown> = {};
    fields.forEach((f, i) => {
      if (values[i] !== null && values[i] !== undefined) doc[f] = values[i];
    });
    return doc as HealthDoc;
  }

  /** A call to Hull's API ended: null when it worked (a 404 works), else why not. */
  apiResult(failure: string | null): void {
    const at = this.clock();
    if (failure === null) this.#record("api_ok", "ok", at);
    else this.#record("api_failed", failure, { at, reason: failure.slice(0, 200) });
  }

  /**
   * Checks the cron's query parameters (`ship`, `secret`, `organization`, as Hull's scheduler
   * sends them) against this connector's credentials; `bound: false` when it has none yet.
   */
  async authorize(query: URLSearchParams): Promise<CronAuth & { bound?: boolean }> {
    const [ship, secret, organization] = ["ship", "secret", "organization"].map((k) =>
      query.get(k)?.trim() ?? ""
    );
    if (!ship || !secret || !organization) {
      return { ok: false, status: 401, reason: "ship, secret and organization are required" };
    }
    const bound = await this.credentials.registered();
    if (!bound) return { ok: true, bound: false };
    // Every part is compared, the secret in constant time, whatever the others gave.
    const secretOk = bound.secret !== null && sameSecret(secret, bound.secret);
    const same = secretOk && bound.id.toLowerCase() === ship.toLowerCase() &&
      bound.organization.toLowerCase() === organization.toLowerCase();
    return same ? { ok: true, bound: true } : {
      ok: false,
      status: 403,
      reason: "these credentials are not those of the connector this deployment serves",
    };
  }

  /**
   * One call of Hull's cron: authenticated by its query (401/403 otherwise, telling nothing
   * of the status), answered with the status and, when the connector is bound, the same
   * status pushed to Hull (one request). Throws when the store fails.
   */
  async cronCall(query: URLSearchParams): Promise<{ code: 200 | 401 | 403; body: object }> {
    const auth = await this.authorize(query);
    if (!auth.ok) return { code: auth.status, body: { error: auth.reason } };
    const answer = await this.current();
    if (auth.bound) {
      const failed = await this.push(answer);
      if (failed) console.warn(`status not sent to Hull: ${failed}`);
    }
    return { code: 200, body: answer };
  }

  /** The status now. Throws when the store fails. */
  async current(): Promise<StatusAnswer> {
    const [connection, managed, health] = await Promise.all([
      this.credentials.info(),
      loadManaged(this.store),
      this.health(),
    ]);
    return connectorStatus({ connection, managed, health, now: this.clock() });
  }

  /**
   * Sends `answer` to Hull with the connector's stored credentials (one request): null when
   * Hull took it, else why not (no credentials, or Hull's answer).
   */
  async push(answer: StatusAnswer): Promise<string | null> {
    const conn = await this.credentials.current();
    if (!conn) return "no usable credentials of the connector";
    return await this.api.putStatus(conn, answer);
  }

  /**
   * Writes one field of the shared record (one store key each, so instances never overwrite
   * each other's fields): at once when its state changed (another failure reason), else at
   * most every WRITE_EVERY_MS on this instance. A store failure is ignored: the status is a
   * report, and must not fail what it reports on.
   */
  #record(field: keyof HealthDoc, state: string, value: unknown): void {
    const now = this.clock();
    const last = this.#written.get(field);
    if (last && last.state === state && now - last.at < WRITE_EVERY_MS) return;
    this.#written.set(field, { state, at: now });
    this.store.setMeta(`${META}.${field}`, value).catch(() => {});
  }
}
