/**
 * The public payload filter (docs/contracts.md §5): decides which parts of a Hull profile may leave
 * the server for a browser, and shapes them the way pages expect. Pure; no I/O.
 *
 * Grouping follows Hull's own `group()` helper (hull-node `utils/traits`), applied to each
 * whitelisted flat name:
 * - `traits_x/y` (a `traits_` name with a slash) drops the prefix → `{ x: { y } }`;
 * - `traits_x` (no slash) lands under `traits` → `{ traits: { x } }`;
 * - any other name splits on `/`: `clearbit/company` → `{ clearbit: { company } }`,
 *   `email` → `{ email }`.
 * `account.<name>` entries select account attributes, kept flat under `account` as the original
 * connector sent them (`account.clearbit/employees` → `{ "clearbit/employees": 50 }`).
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
import type { ProfileView, StoredProfile } from "./types.ts";
import type { HullSegment, HullUserMessage, PublicPayload, Settings } from "./types.ts";
import { SETTINGS_LISTS } from "./types.ts";

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

/** One whitelisted name, with the path it is grouped under (names that cannot be placed are left out). */
interface PlacedName {
  name: string;
  path: string[];
}

/** What one tier of one settings object sends, computed once per settings object. */
interface TierPlan {
  /** `user_filter_segments` (empty: no filter). */
  filter: string[];
  user: PlacedName[];
  account: PlacedName[];
  /** Whether a name nests (`a/b`): only then are branches tracked. */
  nests: boolean;
  segments: Set<string> | null;
  accountSegments: Set<string> | null;
}

/**
 * The placed names of `names`, in order. `reserved`: first path segments no name may nest
 * under (`id`, which the payload places itself).
 */
function placeNames(names: Iterable<string>, reserved?: string): PlacedName[] {
  const out: PlacedName[] = [];
  for (const name of names) {
    const path = groupPath(name);
    if (!path || (path.length > 1 && path[0] === reserved)) continue;
    out.push({ name, path });
  }
  return out;
}

const idSet = (ids: readonly string[] | undefined) => ids?.length ? new Set(ids) : null;

function tierPlan(settings: Settings): TierPlan {
  const names = publicTraitNames(settings);
  // `id` is placed by us, so no whitelisted name (`id`, `id/x`) can replace or nest it.
  names.user.delete("id");
  const user = placeNames(names.user, "id");
  // Account names are not grouped: the original picked them by name into a flat object.
  const account = [...names.account].filter((name) => !FORBIDDEN_KEYS.has(name)).map((name) => ({
    name,
    path: [name],
  }));
  return {
    filter: settings.user_filter_segments ?? [],
    user,
    account,
    nests: [...user, ...account].some((n) => n.path.length > 1),
    segments: idSet(settings.public_segments),
    accountSegments: idSet(settings.public_account_segments),
  };
}

/** The settings lists a plan is built from. */
const PLANNED = SETTINGS_LISTS;

interface PlanEntry {
  /** The lists of PLANNED, as they were when the plans were made. */
  from: unknown[];
  full?: TierPlan;
  anonymous?: TierPlan;
}

/**
 * Plans are kept per settings object (settings are replaced, never changed in place), with the
 * lists they were built from, so a settings object whose lists were swapped is planned again.
 */
const plans = new WeakMap<Settings, PlanEntry>();

function planOf(settings: Settings, tier: Tier): TierPlan {
  let entry = plans.get(settings);
  if (!entry || PLANNED.some((k, i) => entry!.from[i] !== settings[k])) {
    entry = { from: PLANNED.map((k) => settings[k]) };
    plans.set(settings, entry);
  }
  return entry[tier] ??= tierPlan(tierSettings(settings, tier));
}

/**
 * Builds the grouped object of the `names` present on `source`. With nesting names, `branches`
 * remembers the objects created here, so a leaf value that happens to be an object is never
 * mistaken for a branch (and never mutated).
 */
function groupAttributes(
  source: Record<string, unknown>,
  names: readonly PlacedName[],
  nests: boolean,
  root: Tree = {},
): Tree {
  const branches: object[] | null = nests ? [root] : null;
  for (const { name, path } of names) {
    if (!Object.hasOwn(source, name)) continue; // missing stays absent, never null
    const value = jsonCopy(source[name]);
    if (value === undefined) continue;

    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i];
      const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
      if (next && typeof next === "object" && branches!.includes(next)) {
        node = next as Tree;
      } else {
        // Absent, or a leaf in the way: the branch wins (see module doc).
        const created: Tree = {};
        branches!.push(created);
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
function segmentNames(segments: unknown, allowed: Set<string> | null): string[] {
  if (!allowed || !Array.isArray(segments)) return [];
  const names = new Set<string>();
  for (const s of segments as HullSegment[]) {
    if (s && typeof s === "object" && allowed.has(s.id) && typeof s.name === "string") {
      names.add(s.name);
    }
  }
  return [...names];
}

/** Whether the user is in one of `filter`'s segment ids, ignoring malformed entries. */
function inAnySegment(segments: unknown, filter: readonly string[]): boolean {
  if (!Array.isArray(segments)) return false;
  for (const s of segments) {
    if (s && typeof s === "object" && typeof s.id === "string" && filter.includes(s.id)) {
      return true;
    }
  }
  return false;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

/** The payload of `message` under `plan` (see buildPublicPayload), with `version` if given. */
function payloadOf(
  message: HullUserMessage,
  plan: TierPlan,
  version?: number,
): PublicPayload | null {
  if (plan.filter.length && !inAnySegment(message.segments, plan.filter)) return null;
  const userSource = asRecord(message.user);
  const rawId = userSource.id;
  const user = groupAttributes(userSource, plan.user, plan.nests, {
    id: typeof rawId === "string" ? rawId : String(rawId ?? ""),
  }) as PublicPayload["user"];
  const payload: PublicPayload = {
    message: "ok",
    user,
    account: groupAttributes(asRecord(message.account), plan.account, plan.nests),
    segments: segmentNames(message.segments, plan.segments),
    account_segments: segmentNames(message.account_segments, plan.accountSegments),
    events: [],
  };
  if (version !== undefined) payload.version = version;
  return payload;
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
  return payloadOf(message, planOf(settings, "full"));
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
  return payloadOf(profile, planOf(settings, tier), profile.updated_at);
}

/** Both tiers' payloads of one version of a profile. */
export function viewOf(profile: StoredProfile, settings: Settings): ProfileView {
  return {
    settings,
    full: versionedPayload(profile, settings),
    anonymous: versionedPayload(profile, settings, "anonymous"),
  };
}
