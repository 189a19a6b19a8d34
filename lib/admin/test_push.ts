/**
 * The dashboard's "Push a test update": the stored profile pushed to every room of the user on
 * every instance, marked `test: true` so that pages fire their handler even when nothing
 * changed, counted (sockets across instances, through the adapter) and logged.
 */
import type { EventLog } from "../events.ts";
import { anonymousRoom, maskIdentifiers, userIdentifiers } from "../identity.ts";
import type { IdentifierHasher } from "../identity.ts";
import { versionedPayload } from "../payload.ts";
import type { Publisher, Settings } from "../types.ts";
import type { StoredProfile } from "../store/store.ts";

/** What a test push needs of the running instance. */
export interface TestPushDeps {
  /** Counts the sockets in any of `rooms` (a socket in several counts once). */
  countSockets: (rooms: string[]) => Promise<number>;
  hasher: IdentifierHasher;
  publish: Publisher;
  events: EventLog;
  settings: Settings;
}

/** Pushes `profile` as a test update; resolves to the number of sockets it was sent to. */
export async function pushTestUpdate(deps: TestPushDeps, profile: StoredProfile): Promise<number> {
  const ids = userIdentifiers(profile.user);
  const rooms = await deps.hasher.hashAll(ids);
  const anonymous = rooms.map(anonymousRoom);
  // Counted before the push: a socket in several of the rooms gets one message and counts once.
  const sockets = rooms.length ? await deps.countSockets([...rooms, ...anonymous]) : 0;
  const full = versionedPayload(profile, deps.settings, "full");
  const anon = versionedPayload(profile, deps.settings, "anonymous");
  deps.publish([
    { rooms, event: "user.update", payload: full && { ...full, test: true } },
    { rooms: anonymous, event: "user.update", payload: anon && { ...anon, test: true } },
  ]);
  deps.events.emit("outgoing.user.success", {
    identifiers: maskIdentifiers(ids),
    message: `test update pushed from the dashboard to ${sockets} socket${
      sockets === 1 ? "" : "s"
    }`,
  });
  return sockets;
}
