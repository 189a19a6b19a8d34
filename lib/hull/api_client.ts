/**
 * A small client of Hull's REST API, for the two calls the connector makes, authenticated the
 * way Hull's own client does it (`Hull-App-Id`, `Hull-Organization`, `Hull-Access-Token`):
 * - a visitor's profile (`GET /api/v1/me/user_report`) on behalf of the connector, the token an
 *   HS256 JWT signed with the connector secret (`iss` = connector id, `iat`, `io.hull.asUser` =
 *   the claims, `io.hull.subjectType` = `user`, `scopes` = `["admin"]`);
 * - the connector's status (`PUT /api/v1/<id>/status`), as the connector itself (the token is
 *   its secret, as hull-client sends it for the connector's own calls).
 * Failures come back as reasons, never as thrown errors, and never name the secret or token.
 */
import { SignJWT } from "jose";
import { type Claims, type HullSegment, type HullUserMessage, isObject } from "../types.ts";
import type { HullConnection } from "./credentials.ts";
import { readCapped } from "./capped_body.ts";

export interface ApiClientOptions {
  /** Base URL instead of `https://<organization>` (HULL_API_BASE_URL); null: the organization's. */
  baseUrl: string | null;
  /** HTTP client for the requests (e.g. one trusting extra CA certificates); default: Deno's. */
  client?: Deno.HttpClient;
  /** Timeout of one request (default 10 s). */
  timeoutMs?: number;
}

/** A user report as a smart-notifier message, or why there is none. */
export type UserReport =
  | { ok: true; message: HullUserMessage }
  | { ok: false; notFound: boolean; reason: string };

/**
 * Largest answer read (a user report is a few KB; very large ones are cut by the store). Read
 * with the cap while streaming (capped_body.ts), so a larger one costs at most this much.
 */
export const MAX_REPORT_BYTES = 2 * 1024 * 1024;

/** The `Hull-Access-Token` acting as the user named by `claims` (as hull-client's asUser). */
export function userToken(conn: HullConnection, claims: Claims): Promise<string> {
  const payload: Record<string, unknown> = {
    "io.hull.asUser": claims,
    "io.hull.subjectType": "user",
    // As the original connector asks hull-client for it: the report is read with admin scope.
    scopes: ["admin"],
  };
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(conn.id).setIssuedAt();
  if (claims.id) jwt.setSubject(claims.id);
  return jwt.sign(new TextEncoder().encode(conn.secret));
}

/** Calls Hull's API for one connector. */
export class HullApiClient {
  readonly #timeout: number;

  constructor(private readonly opts: ApiClientOptions) {
    this.#timeout = opts.timeoutMs ?? 10_000;
  }

  /** The URL of the user report for `conn` (the base URL override wins). */
  reportUrl(conn: HullConnection): string {
    return `${this.opts.baseUrl ?? `https://${conn.organization}`}/api/v1/me/user_report`;
  }

  /** Fetches the profile of the user identified by `claims`. */
  async userReport(conn: HullConnection, claims: Claims): Promise<UserReport> {
    const fail = (reason: string, notFound = false): UserReport => ({
      ok: false,
      notFound,
      reason,
    });
    let res: Response;
    try {
      res = await fetch(this.reportUrl(conn), {
        headers: {
          accept: "application/json",
          "Hull-App-Id": conn.id,
          "Hull-Access-Token": await userToken(conn, claims),
          "Hull-Organization": conn.organization,
        },
        // The token must not follow a redirect to another host.
        redirect: "error",
        signal: AbortSignal.timeout(this.#timeout),
        client: this.opts.client,
      });
    } catch (err) {
      return fail(
        (err as Error).name === "TimeoutError"
          ? `Hull did not answer within ${this.#timeout / 1000} s`
          : "Hull's API could not be reached",
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return fail("not found in Hull", true);
    }
    if (!res.ok) {
      await res.body?.cancel();
      return fail(`Hull answered ${res.status}`);
    }
    // Counted while it streams: an answer past the cap is cut there, never held whole.
    let bytes: Uint8Array | null;
    try {
      bytes = await readCapped(res, MAX_REPORT_BYTES);
    } catch (err) {
      return fail(
        (err as Error).name === "TimeoutError"
          ? `Hull's answer did not arrive within ${this.#timeout / 1000} s`
          : "Hull's answer was cut off",
      );
    }
    if (!bytes) return fail(`Hull's answer is larger than ${MAX_REPORT_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return fail("Hull's answer is not JSON");
    }
    const message = toMessage(body);
    return message
      ? { ok: true, message }
      : fail("not found in Hull (no user in the answer)", true);
  }

  /** The URL the connector's status is sent to (the base URL override wins). */
  statusUrl(conn: HullConnection): string {
    const base = this.opts.baseUrl ?? `https://${conn.organization}`;
    return `${base}/api/v1/${encodeURIComponent(conn.id)}/status`;
  }

  /**
   * Sends the connector's status to Hull (one request, no retry: the next cron call sends it
   * again). Resolves with null when Hull took it, else why not.
   */
  async putStatus(
    conn: HullConnection,
    body: { status: ConnectorStatus; messages: string[] },
  ): Promise<string | null> {
    try {
      const res = await fetch(this.statusUrl(conn), {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          "Hull-App-Id": conn.id,
          "Hull-Access-Token": conn.secret,
          "Hull-Organization": conn.organization,
        },
        body: JSON.stringify(body),
        // The secret must not follow a redirect to another host.
        redirect: "error",
        signal: AbortSignal.timeout(this.#timeout),
        client: this.opts.client,
      });
      await res.body?.cancel();
      return res.ok ? null : `Hull answered ${res.status}`;
    } catch (err) {
      return (err as Error).name === "TimeoutError"
        ? `Hull did not answer within ${this.#timeout / 1000} s`
        : "Hull's API could not be reached";
    }
  }
}

/** Hull's status of a connector, as its SDK reports it (docs/hull.md). */
export type ConnectorStatus = "ok" | "warning" | "error" | "setupRequired";

/**
 * Reads a user report into the shape of a smart-notifier message: either `{ user, account,
 * segments, account_segments }` or the user's attributes with `account` and `segments` inside
 * (as the original connector read it).
 */
export function toMessage(body: unknown): HullUserMessage | null {
  if (!isObject(body)) return null;
  const wrapped = isObject(body.user);
  const { account, segments, account_segments, ...attributes } = body;
  const user = wrapped ? body.user as Record<string, unknown> : attributes;
  if (typeof user.id !== "string" || !user.id || user.id.length > 200) return null;
  const segs = (v: unknown): HullSegment[] =>
    Array.isArray(v) ? v.filter((s) => isObject(s) && typeof s.id === "string") : [];
  const acct = isObject(account) ? account : {};
  return {
    user: user as HullUserMessage["user"],
    account: acct,
    segments: segs(segments),
    account_segments: segs(account_segments ?? acct.segments),
  };
}
