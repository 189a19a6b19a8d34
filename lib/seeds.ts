/**
 * Which environment seeds lost to the settings already stored. `WHITELISTED_DOMAINS`,
 * `PUBLIC_TRAITS` and the other seeds are written only when the store holds no settings yet;
 * afterwards the dashboard is the source of truth, and a variable changed later is ignored.
 * This names those variables so that the boot output, `/` and the dashboard can say so.
 */
import type { SettingsSeed } from "./config.ts";
import type { StoredConfig } from "./types.ts";
import type { Settings } from "./types.ts";

/** The seeded list settings and the variable of each. */
const LIST_SEEDS: [string, keyof Settings][] = [
  ["PUBLIC_TRAITS", "public_traits"],
  ["PUBLIC_SEGMENTS", "public_segments"],
  ["PUBLIC_ACCOUNT_SEGMENTS", "public_account_segments"],
  ["USER_FILTER_SEGMENTS", "user_filter_segments"],
  ["ANONYMOUS_TRAITS", "anonymous_traits"],
  ["ANONYMOUS_SEGMENTS", "anonymous_segments"],
  ["ANONYMOUS_ACCOUNT_SEGMENTS", "anonymous_account_segments"],
];

const sameSet = (a: readonly string[] = [], b: readonly string[] = []) => {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((v) => x.has(v));
};

/**
 * The environment variables whose seed differs from the stored setting, so had no effect: a
 * variable that is set (non-empty) and not what the store holds. `IDENTITY_MODE` counts when the
 * seeded mode (IDENTITY_MODE, or `required` implied by IDENTITY_SECRET) is not `off` and not
 * the stored one. Empty when the seeds were applied or match.
 */
export function ignoredSeeds(seed: SettingsSeed, stored: StoredConfig): string[] {
  const out: string[] = [];
  const domains = seed.domains.map((d) => d.raw);
  if (domains.length && !sameSet(domains, stored.domains)) out.push("WHITELISTED_DOMAINS");
  for (const [name, key] of LIST_SEEDS) {
    const wanted = seed.settings[key] as string[] | undefined;
    if (wanted?.length && !sameSet(wanted, stored.settings[key] as string[] | undefined)) {
      out.push(name);
    }
  }
  const mode = seed.settings.identity_mode ?? "off";
  if (mode !== "off" && mode !== (stored.settings.identity_mode ?? "off")) {
    out.push("IDENTITY_MODE");
  }
  return out;
}

/** One sentence for the operator naming `names` and how to change those settings. */
export function ignoredSeedsNotice(names: string[]): string {
  return `${names.join(", ")} ${names.length === 1 ? "is" : "are"} set but ignored: these ` +
    "variables only seed an empty store, and this store already holds settings. Change them " +
    "in the dashboard (/admin/domains, /admin/settings) or in the connector's settings in Hull, " +
    "or unset them.";
}
