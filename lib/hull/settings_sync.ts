/**
 * Settings from Hull (docs/contracts.md §3): when a verified notification's
 * `connector.private_settings` (or, for `script`, `connector.settings`) carries any of the keys
 * of our manifest, each key present becomes
 * the live setting for every instance, through the store (as a dashboard edit does); absent keys
 * keep their value. A key whose value is malformed changes nothing and is reported. Which settings
 * Hull manages, and when they were last synced, is kept in the store so the dashboard shows them
 * read-only.
 */
import { hostOfUrlEntry, parseDomainPattern } from "../domains.ts";
import type { EventLog } from "../events.ts";
import { configSizeRefusal } from "../store/config_size.ts";
import type { LiveConfig } from "../connector/live_config.ts";
import type { Store } from "../store/store.ts";
import { IDENTITY_MODES, type IdentityMode, type Settings } from "../types.ts";
import { ALL_USERS } from "./manifest.ts";

/** Hull's private_settings key → our setting (`domains`: the whitelist). */
export const HULL_SETTING_KEYS = {
  whitelisted_domains: "domains",
  public_traits: "public_traits",
  public_segments: "public_segments",
  public_account_segments: "public_account_segments",
  synchronized_segments: "user_filter_segments",
  identity_mode: "identity_mode",
  anonymous_traits: "anonymous_traits",
  anonymous_segments: "anonymous_segments",
  anonymous_account_segments: "anonymous_account_segments",
  script: "script",
} as const;

/** Longest `script` setting kept (characters). */
export const MAX_SCRIPT_LENGTH = 20_000;

/**
 * The settings a notification's `connector` carries for us: its `private_settings`, plus
 * `settings.script` (the original connector's manifest put `script` in the public `settings`,
 * so an installation keeps its code where it was).
 */
export function hullSettingsOf(connector: unknown): unknown {
  if (typeof connector !== "object" || connector === null) return undefined;
  const { private_settings: ps, settings } = connector as Record<string, unknown>;
  const script = typeof settings === "object" && settings !== null
    ? (settings as Record<string, unknown>).script
    : undefined;
  if (script === undefined) return ps;
  return { ...(typeof ps === "object" && ps !== null ? ps : {}), script };
}

export type HullSettingKey = keyof typeof HULL_SETTING_KEYS;
export type ManagedSetting = typeof HULL_SETTING_KEYS[HullSettingKey];

/**
 * The connector's record of settings from Hull: which of our settings Hull manages (setting →
 * ISO time it was last synced), what could not be used, and the last refusal of settings too
 * large to store. Kept with the connector's settings, so it follows them wherever they live.
 */
export interface ManagedDoc {
  managed: Partial<Record<ManagedSetting, string>>;
  /** Values Hull sent that could not be used (left out, or the setting kept its value). */
  problems: string[];
  /** How values Hull sent were read (a whitelist URL taken as its host). */
  notes?: string[];
  /**
   * Settings Hull sent that were too large to store (config_size.ts), with when: the old
   * values stay, the rest of each notification applies. Null once Hull's settings fit again.
   */
  refused: { reason: string; at: string } | null;
}

const META = "hull_managed";
const MAX_ENTRIES = 1_000;
const MAX_ENTRY_LENGTH = 200;
/** How often an instance refreshes the "last synced" times when nothing else changed. */
const TOUCH_MS = 60_000;

/** What a notification's private_settings say, once checked. */
export interface HullSettings {
  settings: Partial<Settings>;
  domains?: string[];
  /** Our settings present (and usable) in the notification. */
  keys: ManagedSetting[];
  problems: string[];
  /** How values were read (e.g. a whitelist URL taken as its host): used, but not as sent. */
  notes: string[];
}

function list(key: string, v: unknown, problems: string[]): string[] | null {
  if (!Array.isArray(v)) return problems.push(`${key} must be a list`), null;
  if (v.length > MAX_ENTRIES) return problems.push(`${key} has over ${MAX_ENTRIES} entries`), null;
  const out: string[] = [];
  for (const e of v) {
    if (typeof e !== "string" || e.length > MAX_ENTRY_LENGTH) {
      problems.push(`${key} must hold strings of at most ${MAX_ENTRY_LENGTH} characters`);
      return null;
    }
    if (e.trim()) out.push(e.trim());
  }
  return [...new Set(out)];
}

/**
 * Reads the settings keys of `privateSettings`. A key that is absent (or null) is not
 * returned; a malformed one is reported in `problems` and not returned either.
 */
export function readHullSettings(privateSettings: unknown, identitySecret: boolean): HullSettings {
  const out: HullSettings = { settings: {}, keys: [], problems: [], notes: [] };
  if (typeof privateSettings !== "object" || privateSettings === null) return out;
  const ps = privateSettings as Record<string, unknown>;
  for (const [hullKey, ours] of Object.entries(HULL_SETTING_KEYS)) {
    const v = ps[hullKey];
    if (v === undefined || v === null) continue;
    if (ours === "identity_mode") {
      if (typeof v !== "string" || !IDENTITY_MODES.includes(v as IdentityMode)) {
        out.problems.push(`identity_mode must be one of ${IDENTITY_MODES.join(", ")}`);
      } else if (v !== "off" && !identitySecret) {
        out.problems.push(`identity_mode "${v}" needs IDENTITY_SECRET on the server`);
      } else {
        out.settings.identity_mode = v as IdentityMode;
        out.keys.push(ours);
      }
      continue;
    }
    if (ours === "script") {
      if (typeof v !== "string" || v.length > MAX_SCRIPT_LENGTH) {
        out.problems.push(`script must be text of at most ${MAX_SCRIPT_LENGTH} characters`);
      } else {
        out.settings.script = v;
        out.keys.push(ours);
      }
      continue;
    }
    const values = list(hullKey, v, out.problems);
    if (!values) continue;
    if (ours === "domains") {
      const domains = readDomains(values, out);
      if (domains.length || !values.length) {
        out.domains = domains;
        out.keys.push(ours);
      } else out.problems.push("whitelisted_domains: no usable entry, the old list stays");
      continue;
    }
    // "All Users" in the user filter means no filter, as an empty list does.
    out.settings[ours] = ours === "user_filter_segments" && values.includes(ALL_USERS)
      ? []
      : values;
    out.keys.push(ours);
  }
  return out;
}

/**
 * The whitelist entries Hull sent, each on its own: one written as a URL is taken as its host
 * (noted), one that is still not a domain is left out (a problem), the rest are used. So a
 * pasted `https://site.com/shop` neither refuses the whole list nor every page.
 */
function readDomains(values: string[], out: HullSettings): string[] {
  const domains: string[] = [];
  for (const entry of values) {
    try {
      domains.push(parseDomainPattern(entry).raw);
      continue;
    } catch (err) {
      const host = hostOfUrlEntry(entry);
      try {
        if (host === null) throw err;
        domains.push(parseDomainPattern(host).raw);
        // Only the host is shown: a path or query may hold what the dashboard need not show.
        out.notes.push(`whitelisted_domains: "${shownUrl(entry, host)}" taken as ${host}`);
      } catch (e) {
        // An entry with user info may hold a password: it is not quoted anywhere.
        const why = entry.includes("@")
          ? "an entry with user info (@) is not a domain"
          : (e as Error).message;
        out.problems.push(`whitelisted_domains: ${why} (entry left out)`);
      }
    }
  }
  return [...new Set(domains)];
}

/** `https://site.com/…` for an entry whose host is `site.com` (its path and query unshown). */
function shownUrl(entry: string, host: string): string {
  const scheme = /^https?:\/\//i.exec(entry.trim())?.[0] ?? "";
  return `${scheme}${host}${entry.trim().length > scheme.length + host.length ? "/…" : ""}`;
}

/** The settings Hull manages, as last recorded (empty when Hull never sent any). */
export async function loadManaged(store: Store): Promise<ManagedDoc> {
  const doc = await store.getMeta<ManagedDoc>(META);
  return {
    managed: doc?.managed ?? {},
    problems: doc?.problems ?? [],
    notes: doc?.notes ?? [],
    refused: doc?.refused ?? null,
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Applies settings from verified notifications on this instance (and, via the store, all). */
export class HullSettingsSync {
  #touched = 0;
  #last = "";

  constructor(
    private readonly store: Store,
    private readonly live: LiveConfig,
    private readonly identitySecret: boolean,
    /** Where refusals are logged for the dashboard's live log (none: stderr only). */
    private readonly events?: EventLog,
  ) {}

  /**
   * Applies the settings keys present in `privateSettings`. Writes only what changed, so a
   * batch carrying the same settings as the last costs no write. Settings (or a whitelist) too
   * large to store are refused, not written, and recorded with the reason for the dashboard;
   * the caller goes on with the rest of the notification. `beforeWrite` runs before the first
   * write (the webhook claims its notification there, so a replay writes nothing) and may
   * throw to stop it. Throws when the store fails.
   */
  async apply(
    privateSettings: unknown,
    beforeWrite: () => Promise<void> = () => Promise.resolve(),
  ): Promise<HullSettings> {
    const read = readHullSettings(privateSettings, this.identitySecret);
    if (!read.keys.length && !read.problems.length && !read.notes.length) return read;
    const refused: string[] = [];
    const settings = { ...this.live.settings, ...read.settings };
    let domains = this.live.domains.map((d) => d.raw);
    if (!same(settings, this.live.settings)) {
      const tooLarge = configSizeRefusal("settings from Hull", settings);
      if (tooLarge) {
        refused.push(tooLarge);
        read.keys = read.keys.filter((k) => k === "domains");
        read.settings = {};
      } else {
        await beforeWrite();
        await this.store.setSettings(settings);
        this.live.apply({ settings, domains });
      }
    }
    if (read.domains && !same(read.domains, domains)) {
      const tooLarge = configSizeRefusal("whitelisted_domains from Hull", read.domains);
      if (tooLarge) {
        refused.push(tooLarge);
        read.keys = read.keys.filter((k) => k !== "domains");
        delete read.domains;
      } else {
        domains = read.domains;
        await beforeWrite();
        await this.store.setDomains(domains);
        this.live.apply({ settings: this.live.settings, domains });
      }
    }
    await this.#record(read, refused, beforeWrite);
    if (read.problems.length) {
      console.warn(`settings from Hull not applied: ${read.problems.join("; ")}`);
    }
    return read;
  }

  /**
   * Records what Hull manages, its problems and a refusal, for the dashboard: written (and a
   * refusal logged) when that changed, else at most every TOUCH_MS per instance, so a setting
   * refused on every batch neither floods the live log nor costs a write per batch.
   */
  async #record(read: HullSettings, refused: string[], beforeWrite: () => Promise<void>) {
    const signature = JSON.stringify([read.keys, read.problems, read.notes, refused]);
    const changed = signature !== this.#last;
    if (!changed && Date.now() - this.#touched <= TOUCH_MS) return;
    await beforeWrite();
    const doc = await loadManaged(this.store);
    const now = new Date().toISOString();
    for (const k of read.keys) doc.managed[k] = now;
    doc.problems = read.problems;
    doc.notes = read.notes;
    if (refused.length) doc.refused = { reason: refused.join("; "), at: now };
    else if (read.keys.length) doc.refused = null; // Hull's settings fit again
    await this.store.setMeta(META, doc);
    this.#last = signature;
    this.#touched = Date.now();
    // What was left out or read differently, once per change (values only, no secret).
    if (changed && (read.problems.length || read.notes.length)) {
      this.events?.emit(
        read.problems.length ? "incoming.connection.error" : "incoming.connection.success",
        { message: `settings from Hull: ${[...read.problems, ...read.notes].join("; ")}` },
      );
    }
    if (refused.length) {
      const message = `settings from Hull refused, the old values stay: ${refused.join("; ")}`;
      this.events?.emit("incoming.connection.error", { message });
      console.warn(message);
    }
  }
}
