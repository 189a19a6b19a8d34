/**
 * The dashboard's settings form: reads a submitted form into settings, checks it (identity
 * mode known and possible on this server, attribute names well formed) and, when something is
 * wrong, keeps every submitted value so the page can show them again with the errors. Nothing
 * is saved unless everything is valid.
 */
import { parseList } from "../config.ts";
import type { ManagedSetting } from "../hull/settings_sync.ts";
import { IDENTITY_MODES, type IdentityMode, type Settings, SETTINGS_LISTS } from "../types.ts";

/** The list settings the form edits. */
export const LIST_KEYS = SETTINGS_LISTS;
export type ListKey = typeof LIST_KEYS[number];

/** Lists of attribute names (the rest hold segment ids). */
const TRAIT_LISTS: ListKey[] = ["public_traits", "anonymous_traits"];

/**
 * Why `name` is not a Hull attribute name as PUBLIC_TRAITS takes them (`email`, `traits_plan`,
 * `clearbit/name`, `account.name`), or undefined when it is one.
 */
export function traitNameProblem(name: string): string | undefined {
  if (name.length > 200) return `"${name.slice(0, 40)}…" is longer than 200 characters`;
  // deno-lint-ignore no-control-regex
  if (/[\s"'<>`{}\\\x00-\x1f]/.test(name)) {
    return `"${name}" has a space, quote or bracket: attribute names have none`;
  }
  const path = name.startsWith("account.") ? name.slice("account.".length) : name;
  if (!path || path.startsWith("/") || path.endsWith("/") || path.includes("//")) {
    return `"${name}" is not an attribute name (e.g. email, traits_plan, clearbit/name, ` +
      "account.name)";
  }
  return undefined;
}

/** The result of {@link readSettingsForm}: the settings to save, or what is wrong. */
export interface SettingsForm {
  settings: Settings;
  errors: string[];
}

/**
 * Reads `body` over `current`: settings managed in Hull keep their value (Hull would overwrite
 * an edit at its next sync). `identitySecret` tells whether `report`/`required` can work.
 */
export function readSettingsForm(
  body: Record<string, unknown>,
  current: Settings,
  managed: Partial<Record<ManagedSetting, string>>,
  identitySecret: boolean,
): SettingsForm {
  const settings = { ...current } as Settings;
  const errors: string[] = [];
  for (const key of LIST_KEYS) {
    if (managed[key as ManagedSetting]) continue;
    const raw = typeof body[key] === "string" ? (body[key] as string) : "";
    settings[key] = parseList(raw.replace(/\s*\n\s*/g, ","));
  }
  for (const key of TRAIT_LISTS) {
    for (const name of settings[key] ?? []) {
      const problem = traitNameProblem(name);
      if (problem) errors.push(problem);
    }
  }
  if (!managed["identity_mode" as ManagedSetting]) {
    const mode = String(body.identity_mode ?? "off");
    if (!(IDENTITY_MODES as readonly string[]).includes(mode)) {
      errors.push(`unknown identity mode "${mode.slice(0, 40)}": choose off, report or required`);
    } else if (mode !== "off" && !identitySecret) {
      errors.push(`Set IDENTITY_SECRET on the server before choosing "${mode}".`);
    } else {
      settings.identity_mode = mode as IdentityMode;
    }
  }
  return { settings, errors };
}
