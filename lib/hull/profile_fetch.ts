/**
 * Profiles fetched from Hull: when a visitor identifies and no profile is known, the connector
 * asks Hull's API for it (as the original connector did) instead of waiting for Hull's next
 * notification. The result is stored and sent like an update: the same user filter, the same
 * exposure tiers, the same version rule (a fetched profile is versioned by when the fetch
 * started, so an update pushed meanwhile is newer and wins). Each visitor is fetched at most
 * once per interval across instances (a claim in the store), and an instance starts at most
 * a few fetches a second, so a crowd of unknown visitors cannot flood Hull.
 */
import type { EventLog } from "../events.ts";
import {
  anonymousRoom,
  type Identifier,
  type IdentifierHasher,
  maskIdentifiers,
  userIdentifiers,
} from "../identity.ts";
import type { Counters } from "../metrics.ts";
import { versionedPayload } from "../payload.ts";
import type { Publisher, Push } from "../types.ts";
import { toStoredProfile } from "../webhook/profile.ts";
import type { Store } from "../store/store.ts";
import { CLAIM_TYPES, type Claims, type Settings } from "../types.ts";
import type { HullApiClient } from "./api_client.ts";
import type { HullCredentials } from "./credentials.ts";
import type { HullStatus } from "./status.ts";

export interface ProfileFetchDeps {
  store: Store;
  hasher: IdentifierHasher;
  events: EventLog;
  publish: Publisher;
  settings: () => Settings;
  credentials: HullCredentials;
  api: HullApiClient;
  /** Fetches one instance may start per second; 0 turns fetching off. */
  perSecond: number;
  /** Minutes before the same visitor may be fetched again, across instances. */
  intervalMinutes: number;
  counters?: Counters;
  /** Told how each call to Hull's API ended, for the status Hull shows. */
  status?: Pick<HullStatus, "apiResult">;
  /** Clock of the rate limit, in ms (default `performance.now`; tests advance it). */
  now?: () => number;
}

/** What became of one fetch (for tests and the log). */
export type FetchOutcome =
  | "disabled"
  | "no-credentials"
  | "rate-limited"
  | "recently-fetched"
  | "not-found"
  | "failed"
  | "stale"
  | "filtered"
  | "sent";

/** Fetches unknown visitors' profiles from Hull, within the limits. */
export class ProfileFetcher {
  #tokens: number;
  #now: () => number;
  #refilledAt: number;
  #inflight = new Set<Promise<FetchOutcome>>();

  constructor(private readonly deps: ProfileFetchDeps) {
    this.#tokens = deps.perSecond;
    this.#now = deps.now ?? (() => performance.now());
    this.#refilledAt = this.#now();
  }

  /**
   * Called for a visitor whose identifiers match no stored profile. Returns at once; the
   * fetch runs in the background and never throws (outcomes are logged).
   */
  unknownVisitor = (identifiers: Identifier[], domain?: string): void => {
    if (this.deps.perSecond <= 0 || !identifiers.length) return;
    const run = this.fetch(identifiers, domain).catch((err) => {
      this.deps.events.emit("outgoing.user.fetch.error", {
        identifiers: maskIdentifiers(identifiers),
        domain,
        message: `profile fetch failed: ${String((err as Error)?.message ?? err).slice(0, 150)}`,
      });
      return "failed" as const;
    });
    this.#inflight.add(run);
    run.finally(() => this.#inflight.delete(run));
  };

  /** Resolves once every fetch started so far has finished (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  /** Fetches, stores and sends the profile of the visitor with `identifiers`. */
  async fetch(identifiers: Identifier[], domain?: string): Promise<FetchOutcome> {
    const { deps } = this;
    if (deps.perSecond <= 0) return "disabled";
    const conn = await deps.credentials.current();
    if (!conn) return "no-credentials"; // standalone: Hull never sent its credentials
    const masked = maskIdentifiers(identifiers);
    const log = (event: Parameters<EventLog["emit"]>[0], message: string) =>
      deps.events.emit(event, { identifiers: masked, domain, message });
    if (!this.#take()) {
      deps.counters?.inc("limit.hullFetchesPerSecond");
      log(
        "outgoing.user.fetch.error",
        `limit: more than ${deps.perSecond} profile fetches a second on this instance; not fetched`,
      );
      return "rate-limited";
    }
    const primary =
      [...identifiers].sort((a, b) => CLAIM_TYPES.indexOf(a.type) - CLAIM_TYPES.indexOf(b.type))[0];
    const claimed = await deps.store.claimProfileFetch(
      deps.hasher.hashSync(primary),
      deps.intervalMinutes * 60_000,
    );
    if (!claimed) {
      this.#tokens = Math.min(deps.perSecond, this.#tokens + 1); // nothing was fetched
      return "recently-fetched";
    }

    const startedAt = Date.now();
    log("incoming.user.fetch.start", "unknown visitor: fetching the profile from Hull");
    const report = await deps.api.userReport(conn, claimsOf(identifiers));
    deps.status?.apiResult(report.ok || report.notFound ? null : report.reason);
    if (!report.ok) {
      deps.counters?.inc(report.notFound ? "hull_fetch_not_found" : "hull_fetch_errors");
      log(
        report.notFound ? "incoming.user.fetch.error" : "outgoing.user.fetch.error",
        `profile fetch from Hull: ${report.reason}`,
      );
      return report.notFound ? "not-found" : "failed";
    }

    const settings = deps.settings();
    const profile = toStoredProfile(report.message, settings, startedAt);
    // Indexed: the identifiers Hull lists for the user, not what the visitor claimed (a claim
    // of someone else's id must not re-point that id at this user).
    const identKeys = [...new Set(await deps.hasher.hashAll(userIdentifiers(profile.user)))];
    await deps.store.saveProfiles([{ profile, identKeys }]);
    // A newer update stored meanwhile won: it was pushed already, and this one is older.
    const stored = await deps.store.getProfile(profile.user.id);
    if (stored?.updated_at !== startedAt) {
      log("outgoing.user.skip", "fetched profile is older than an update received meanwhile");
      return "stale";
    }
    const payload = versionedPayload(profile, settings);
    if (!payload) {
      log("outgoing.user.skip", "user is in none of the user filter segments");
      return "filtered";
    }
    const pushes: Push[] = [{ rooms: identKeys, event: "user.update", payload }];
    const anonymous = versionedPayload(profile, settings, "anonymous");
    if (anonymous) {
      pushes.push({
        rooms: identKeys.map(anonymousRoom),
        event: "user.update",
        payload: anonymous,
      });
    }
    deps.publish(pushes);
    deps.counters?.inc("hull_fetch_sent");
    log("incoming.user.fetch.success", "profile fetched from Hull and sent");
    return "sent";
  }

  /** Takes one fetch from this second's budget (a token bucket refilled continuously). */
  #take(): boolean {
    const now = this.#now();
    const { perSecond } = this.deps;
    this.#tokens = Math.min(perSecond, this.#tokens + (now - this.#refilledAt) / 1000 * perSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Hull claims of a visitor: the first identifier of each type. */
export function claimsOf(identifiers: Identifier[]): Claims {
  const claims: Claims = {};
  for (const { type, value } of identifiers) claims[type] ??= value;
  return claims;
}
