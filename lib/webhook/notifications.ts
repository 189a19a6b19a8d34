/**
 * Hull smart-notifier bodies: the processing of a validated batch (validation.ts checks them) (store every profile and its identity index, then push each
 * user's public payload to all of the user's rooms).
 */
import type { EventDetails, EventLog } from "../events.ts";
import type { MetricsSink } from "../metrics.ts";
import {
  anonymousRoom,
  type IdentifierHasher,
  maskIdentifiers,
  userIdentifiers,
} from "../identity.ts";
import { viewOf } from "../payload.ts";
import { storedProfile } from "./profile.ts";
import type {
  ProfileView,
  ProfileWrite,
  SaveResult,
  Store,
  StoredProfile,
} from "../store/store.ts";
import type { HullNotification, HullUserMessage, Publisher, Push, Settings } from "../types.ts";

export {
  ACKNOWLEDGED_CHANNELS,
  type SkippedMessage,
  USER_CHANNELS,
  validateNotification,
  type Validation,
} from "./validation.ts";
import { USER_CHANNELS } from "./validation.ts";

// Shared with the socket side and the Hull fetch; defined with the leaves they belong to.
export { type Tier, tierSettings, versionedPayload } from "../payload.ts";
export type { Publisher, PublishOptions, Push } from "../types.ts";

export interface ProcessorDeps {
  store: Store;
  hasher: IdentifierHasher;
  events: EventLog;
  publish: Publisher;
  settings: () => Settings;
  /** Optional: counts pushes and records webhook→push latency. */
  metrics?: MetricsSink;
  /**
   * Optional: how many other instances may hold sockets, read after the store write
   * (KvAdapterFactory.livePeers). None: the batch is emitted here only and costs the cluster bus
   * nothing; an instance that starts later reads the stored profiles itself. Without it (or
   * when it fails), the batch goes through the adapter.
   */
  peers?: () => Promise<number>;
}

/** Outcome counts of one notification, for the answer's metrics and tests. */
export interface ProcessResult {
  channel: string;
  stored: number;
  pushed: number;
  skipped: number;
  /** Users the store could not hold (logged; the rest of the batch was applied). */
  rejected?: number;
  /** The claim passed in was taken before: nothing was applied. */
  replayed?: boolean;
}

/**
 * Applies a validated notification. Throws only when the store fails (caller answers 500).
 * `claim`: the notification's replay claim, taken by the store with a user:update's write (see
 * `SaveOptions.claim`); any other channel must be claimed by the caller first.
 */
export async function processNotification(
  n: HullNotification,
  deps: ProcessorDeps,
  receivedAt = performance.now(),
  claim?: { id: string; ttlMs: number },
): Promise<ProcessResult> {
  const result: ProcessResult = { channel: n.channel, stored: 0, pushed: 0, skipped: 0 };
  if (claim && n.channel !== "user:update") throw new Error(`${n.channel}: claim it first`);
  if (n.channel === "user:delete") return await deleteUsers(n.messages ?? [], deps, result);
  if (!USER_CHANNELS.has(n.channel)) return result;
  const settings = deps.settings();
  const now = Date.now();
  const messages = n.messages ?? [];
  const prepared = await Promise.all(messages.map(async (m: HullUserMessage) => {
    const ids = userIdentifiers(m.user);
    const { profile, json } = storedProfile(m, settings, now);
    const identKeys = await deps.hasher.hashAll(ids);
    return {
      profile,
      json,
      identKeys,
      anonymousRooms: identKeys.map(anonymousRoom),
      masked: maskIdentifiers(ids),
      // Built before the save: a user whose payload cannot be built is reported, not pushed.
      view: tryView(profile, settings),
    };
  }));
  const writes: ProfileWrite[] = prepared.map(({ profile, json, identKeys }) => ({
    profile,
    json,
    identKeys,
  }));
  /** The pushes of the users not in `refused`. */
  const pushesOf = (refused: Map<string, string>) => {
    const pushes: Push[] = [];
    const sent: { masked: Record<string, string>; rooms: number }[] = [];
    const skipped: EventDetails[] = [];
    const failed: EventDetails[] = [];
    prepared.forEach(({ profile, identKeys, anonymousRooms, masked, view }) => {
      const reason = refused.get(profile.user.id);
      if (reason !== undefined) {
        failed.push({
          identifiers: masked,
          message: `not stored, not pushed: ${reason}`.slice(0, 200),
        });
        return;
      }
      if (view instanceof Error) {
        return failed.push({ identifiers: masked, message: view.message.slice(0, 200) });
      }
      if (!view.full) {
        skipped.push({
          identifiers: masked,
          message: "user is in none of the user filter segments",
        });
        return;
      }
      pushes.push({ rooms: identKeys, event: "user.update", payload: view.full });
      // Sockets with anonymous-safe exposure listen in rooms of their own; a socket holding
      // one of the user's identifiers in each tier gets the full push only, so each socket
      // receives exactly one payload per update.
      if (view.anonymous) {
        pushes.push({
          rooms: anonymousRooms,
          except: identKeys,
          event: "user.update",
          payload: view.anonymous,
        });
      }
      sent.push({ masked, rooms: identKeys.length });
    });
    return { pushes, sent, skipped, failed };
  };
  let saved: SaveResult | undefined;
  try {
    saved = await deps.store.saveProfiles(writes, { claim });
  } finally {
    // Event-log entries are built once per batch (one timestamp), one per user; a replay
    // (known only once the claim was tried with the write) is not logged as incoming users.
    if (!saved?.replayed) {
      deps.events.emitMany(
        "incoming.user.start",
        prepared.map(({ masked }) => ({ identifiers: masked, message: n.channel })),
      );
    }
  }
  if (saved.replayed) return { ...result, replayed: true };
  const { rejected } = saved;
  // A user the store cannot hold is logged and left out; the rest of the batch goes on, and
  // Hull gets its 200 (a retry could never succeed).
  const refused = new Map(rejected.map((r) => [r.userId, r.reason]));
  result.stored = writes.length - refused.size;
  result.rejected = refused.size;
  // Pushed only after the store holds the new version: a socket that identifies meanwhile
  // either reads it or is already in the room when the push goes out.
  deps.events.emitMany(
    "outgoing.user.start",
    prepared.map(({ masked }) => ({ identifiers: masked })),
  );
  const { pushes, sent, skipped, failed } = pushesOf(refused);
  result.skipped = skipped.length;
  deps.events.emitMany("outgoing.user.skip", skipped);
  deps.events.emitMany("outgoing.user.error", failed);
  // Read after the save: an instance that appears later finds these profiles in the store.
  const peers = await deps.peers?.().catch(() => null);
  try {
    deps.publish(pushes, { localOnly: peers === 0 });
  } catch (err) {
    const message = String((err as Error).message ?? err).slice(0, 200);
    deps.events.emitMany(
      "outgoing.user.error",
      sent.map(({ masked }) => ({ identifiers: masked, message })),
    );
    return result;
  }
  const latency = performance.now() - receivedAt;
  result.pushed = sent.length;
  if (sent.length) {
    deps.metrics?.pushed(sent.length);
    deps.metrics?.latency(latency, Date.now(), sent.length);
  }
  deps.events.emitMany(
    "outgoing.user.success",
    // Rooms, not sockets: counting listeners across instances would cost a round trip per
    // user; the dashboard's Rooms page counts them.
    sent.map(({ masked, rooms }) => ({
      identifiers: masked,
      message: `published to the rooms of ${rooms} identifier${rooms === 1 ? "" : "s"} ` +
        "(whoever listens; sockets are counted on the Rooms page)",
    })),
  );
  return result;
}

/**
 * Right to be forgotten: removes each user's profile and every index entry (identifiers from
 * the stored profile and from the message), then tells live sockets to drop cached data.
 */
async function deleteUsers(
  messages: HullUserMessage[],
  deps: ProcessorDeps,
  result: ProcessResult,
): Promise<ProcessResult> {
  for (const m of messages) {
    const stored = await deps.store.getProfile(m.user.id);
    const ids = userIdentifiers(m.user);
    if (stored) ids.push(...userIdentifiers(stored.user));
    const masked = maskIdentifiers(ids);
    deps.events.emit("incoming.user.start", { identifiers: masked, message: "user:delete" });
    const identKeys = [...new Set(await deps.hasher.hashAll(ids))];
    await deps.store.deleteProfile(m.user.id, identKeys);
    const rooms = [...identKeys, ...identKeys.map(anonymousRoom)];
    deps.publish([{ rooms, event: "user.delete", payload: { message: "deleted" } }]);
    result.stored++;
    deps.events.emit("outgoing.user.success", {
      identifiers: masked,
      message: "profile deleted; live sockets told to forget it",
    });
  }
  return result;
}

/** `viewOf`, or the error building it (reported per user, the batch goes on). */
function tryView(profile: StoredProfile, settings: Settings): ProfileView | Error {
  try {
    return viewOf(profile, settings);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
