/**
 * The public payload filter (DESIGN §3.4): decides which parts of a Hull profile may leave the
 * server for a browser, and shapes them the way pages expect. Pure; no I/O.
 *
 * Grouping follows Hull's own `group()` helper (hull-node `utils/traits`), applied to each
 * whitelisted flat name:
 * - `traits_x/y` (a `traits_` name with a slash) drops the prefix → `{ x: { y } }`;
 * - `traits_x` (no slash) lands under `traits` → `{ traits: { x } }`;
 * - any other name splits on `/`: `clearbit/company` → `{ clearbit: { company } }`,
 *   `email` → `{ email }`.
 * `account.<name>` entries select account attributes, grouped the same way into `account`.
 *
 * Hostile or odd input never throws and never pollutes prototypes:
 * - a name with an empty segment (`a//b`, `x/`) or a segment `__proto__`, `constructor` or
 *   `prototype` is skipped; such keys are also removed from copied values;
 * - a leaf and a branch on the same path (`clearbit` and `clearbit/name` both whitelisted)
 *   resolve to the branch, whatever the order: the nested object is kept, the scalar dropped;
 * - two names landing on the same leaf (`traits_clearbit/name`, `clearbit/name`): the first in
 *   `public_traits` wins;
 * - `user.id` is always the user's id; user names that would nest under `id` are skipped.
 * Values are deep copies made through JSON, so the payload shares nothing with the input and
 * anything JSON cannot carry (functions, BigInt, cycles) is left out.
 */
import type { ProfileView, StoredProfile } from "./store/store.ts";
import type { HullSegment, HullUserMessage, PublicPayload, Settings } from "./types.ts";

/** Keys that would reach `Object.prototype` through `obj[key] = …` or a later naive merge. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

const ACCOUNT_PREFIX = "account.";

type Tree = Record<string, unknown>;

/**
 * The whitelisted attribute names, split into user and account names (without `account.`).
 * `user` always holds `id`, which every payload carries.
 */
export function publicTraitNames(settings: Settings): { user: Set<string>; account: Set<string> } {
  const user = new Set<string>(["id"]);
  const account = new Set<string>();
  for (const raw of settings.public_traits ?? []) {
    if (typeof raw !== "string") continue;
    const name = raw.trim();
    if (name.startsWith(ACCOUNT_PREFIX)) {
      const rest = name.slice(ACCOUNT_PREFIX.length);
      if (rest) account.add(rest);
    } else if (name) {
      user.add(name);
    }
  }
  return { user, account };
}

/** The path a flat Hull name is grouped under, or null when the name cannot be placed safely. */
function groupPath(name: string): string[] | null {
  let dest = name;
  if (name.startsWith("traits_")) {
    dest = name.includes("/")
      ? name.slice("traits_".length)
      : "traits/" + name.slice("traits_".length);
  }
  const path = dest.split("/");
  for (const seg of path) {
    if (seg === "" || FORBIDDEN_KEYS.has(seg)) return null;
  }
  return path;
}

/** Drops prototype-related keys while JSON.parse rebuilds a value. */
function reviver(key: string, value: unknown): unknown {
  return FORBIDDEN_KEYS.has(key) ? undefined : value;
}

/** A JSON deep copy of `value`, or `undefined` when JSON cannot represent it. */
function jsonCopy(value: unknown): unknown {
  // Fast path: Hull attributes are mostly primitives, which need no copy.
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text, reviver);
  } catch {
    return undefined; // BigInt, cycles, throwing toJSON: not sendable, so not sent
  }
}

/**
 * Builds the grouped object of the whitelisted `names` present on `source`.
 * `branches` remembers the objects created here, so a leaf value that happens to be an
 * object is never mistaken for a branch (and never mutated).
 */
function groupAttributes(
  source: Record<string, unknown>,
  names: Iterable<string>,
  reserved: Set<string> = new Set(),
): Tree {
  const root: Tree = {};
  const branches = new WeakSet<object>([root]);
  for (const name of names) {
    if (!Object.hasOwn(source, name)) continue; // missing stays absent, never null
    const path = groupPath(name);
    if (!path || (path.length > 1 && reserved.has(path[0]))) continue;
    const value = jsonCopy(source[name]);
    if (value === undefined) continue;

    let node = root;
    for (const seg of path.slice(0, -1)) {
      const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
      if (next && typeof next === "object" && branches.has(next)) {
        node = next as Tree;
      } else {
        // Absent, or a leaf in the way: the branch wins (see module doc).
        const created: Tree = {};
        branches.add(created);
        node[seg] = created;
        node = created;
      }
    }
    const leaf = path[path.length - 1];
    if (Object.hasOwn(node, leaf)) continue; // a branch is there, or an earlier name won
    node[leaf] = value;
  }
  return root;
}

/** Names of `segments` whose id is in `allowed`, in message order, without duplicates. */
function segmentNames(segments: unknown, allowed: readonly string[]): string[] {
  if (!Array.isArray(segments) || !allowed?.length) return [];
  const ids = new Set(allowed);
  const names = new Set<string>();
  for (const s of segments as HullSegment[]) {
    if (s && typeof s === "object" && ids.has(s.id) && typeof s.name === "string") {
      names.add(s.name);
    }
  }
  return [...names];
}

/** Ids of the segments the user is in, ignoring malformed entries. */
function segmentIds(segments: unknown): Set<string> {
  const ids = new Set<string>();
  if (!Array.isArray(segments)) return ids;
  for (const s of segments) {
    if (s && typeof s === "object" && typeof s.id === "string") ids.add(s.id);
  }
  return ids;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

/**
 * The payload a page receives for `message` under `settings`, or `null` when
 * `user_filter_segments` is set and the user is in none of those segments.
 * Only whitelisted attributes and segment names are included; see the module doc for grouping.
 */
export function buildPublicPayload(
  message: HullUserMessage,
  settings: Settings,
): PublicPayload | null {
  const filter = settings.user_filter_segments ?? [];
  if (filter.length) {
    const inSegments = segmentIds(message.segments);
    if (!filter.some((id) => inSegments.has(id))) return null;
  }

  const names = publicTraitNames(settings);
  const userSource = asRecord(message.user);
  // `id` is placed by us, so no whitelisted name (`id`, `id/x`) can replace or nest it.
  names.user.delete("id");
  const rawId = userSource.id;
  const user = {
    id: typeof rawId === "string" ? rawId : String(rawId ?? ""),
    ...groupAttributes(userSource, names.user, new Set(["id"])),
  };

  return {
    message: "ok",
    user,
    account: groupAttributes(asRecord(message.account), names.account),
    segments: segmentNames(message.segments, settings.public_segments),
    account_segments: segmentNames(message.account_segments, settings.public_account_segments),
    events: [],
  };
}

/**
 * Exposure tiers: "full" sockets (verified, or any socket unless identities are required)
 * get the public allowlist; "anonymous" sockets get only the anonymous-safe allowlist.
 */
export type Tier = "full" | "anonymous";

/** The settings that decide what a socket of `tier` receives. */
export function tierSettings(settings: Settings, tier: Tier): Settings {
  if (tier === "full") return settings;
  return {
    ...settings,
    public_traits: settings.anonymous_traits ?? [],
    public_segments: settings.anonymous_segments ?? [],
    public_account_segments: settings.anonymous_account_segments ?? [],
  };
}

/**
 * The public payload of a stored profile for `tier`, carrying its version (`updated_at`, ms)
 * so a page can drop a push older than what it shows; null when the user filter excludes it.
 */
export function versionedPayload(
  profile: StoredProfile,
  settings: Settings,
  tier: Tier = "full",
): PublicPayload | null {
  const payload = buildPublicPayload(profile, tierSettings(settings, tier));
  return payload && { ...payload, version: profile.updated_at };
}

/** Both tiers' payloads of one version of a profile, as the identify cache keeps them. */
export function viewOf(profile: StoredProfile, settings: Settings): ProfileView {
  return {
    settings,
    full: versionedPayload(profile, settings),
    anonymous: versionedPayload(profile, settings, "anonymous"),
  };
}
