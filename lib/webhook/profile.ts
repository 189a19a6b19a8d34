/**
 * Turns a Hull `user:update` message into what we store: the user, the account and segment
 * ids with names. Changes, events and segment metadata are dropped (never public). A profile
 * whose JSON exceeds MAX_PROFILE_BYTES is cut down to the identifiers and the attributes the
 * settings make public (and the segments a setting names), so one oversized user can never
 * break a batch; a store that still cannot hold it leaves that user out and says why.
 */
import { MAX_PROFILE_BYTES, type StoredProfile } from "../store/store.ts";
import type { HullSegment, HullUserMessage, Settings } from "../types.ts";

export { MAX_PROFILE_BYTES };

const IDENTITY_ATTRIBUTES = ["id", "external_id", "email", "contact_email", "anonymous_ids"];

function segmentsOf(list: unknown): HullSegment[] {
  if (!Array.isArray(list)) return [];
  const out: HullSegment[] = [];
  for (const s of list) {
    if (s && typeof s === "object" && typeof s.id === "string") {
      out.push({ id: s.id, name: typeof s.name === "string" ? s.name : s.id });
    }
  }
  return out;
}

function pick(obj: Record<string, unknown>, names: Iterable<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (Object.hasOwn(obj, n)) out[n] = obj[n];
  return out;
}

const encoder = new TextEncoder();

/** Builds the stored profile of `message`, received at `now` (ms). */
export function toStoredProfile(
  message: HullUserMessage,
  settings: Settings,
  now: number,
): StoredProfile {
  return storedProfile(message, settings, now).profile;
}

/**
 * The stored profile of `message` with its JSON as UTF-8 (`ProfileWrite.json`): the size check
 * encodes it anyway, and the store would otherwise serialize it a second time.
 */
export function storedProfile(
  message: HullUserMessage,
  settings: Settings,
  now: number,
): { profile: StoredProfile; json: Uint8Array } {
  const account = message.account && typeof message.account === "object" ? message.account : {};
  const profile: StoredProfile = {
    user: message.user,
    account,
    segments: segmentsOf(message.segments),
    account_segments: segmentsOf(message.account_segments),
    updated_at: now,
  };
  const json = encoder.encode(JSON.stringify(profile));
  if (json.length <= MAX_PROFILE_BYTES) return { profile, json };
  const userNames = new Set(IDENTITY_ATTRIBUTES);
  const accountNames = new Set(["id", "domain"]);
  for (const t of settings.public_traits) {
    if (t.startsWith("account.")) accountNames.add(t.slice(8));
    else userNames.add(t);
  }
  // Only segments some setting may name (public, anonymous-safe, user filter) are kept.
  const segmentIds = new Set([
    ...settings.public_segments,
    ...(settings.anonymous_segments ?? []),
    ...settings.user_filter_segments,
  ]);
  const accountSegmentIds = new Set([
    ...settings.public_account_segments,
    ...(settings.anonymous_account_segments ?? []),
  ]);
  const trimmed: StoredProfile = {
    ...profile,
    user: pick(message.user, userNames) as StoredProfile["user"],
    account: pick(account, accountNames),
    segments: profile.segments.filter((s) => segmentIds.has(s.id)),
    account_segments: profile.account_segments.filter((s) => accountSegmentIds.has(s.id)),
    trimmed: true,
  };
  return { profile: trimmed, json: encoder.encode(JSON.stringify(trimmed)) };
}
