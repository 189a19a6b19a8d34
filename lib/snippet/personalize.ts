/**
 * Personalization without code: on every update the snippet applies the `data-hull-*`
 * attributes of the page's elements. No eval and no HTML: text goes in through `textContent`,
 * visibility through the `hidden` property, classes through `classList`, so it works under a
 * Content-Security-Policy without `'unsafe-eval'` or `'unsafe-inline'`.
 *
 * - `data-hull-show="<segment name>"`: shown only while the visitor is in that user or account
 *   segment (start it with `hidden` to avoid a flash);
 * - `data-hull-hide="<segment name>"`: hidden while the visitor is in that segment;
 * - `data-hull-text="<path>"`: the text becomes that attribute of the user (`email`,
 *   `traits.plan`, `clearbit.name`) or, with `account.`, of the account
 *   (`account.clearbit/employees`); a missing value leaves the element's own text;
 * - `data-hull-class="<segment name>:<class>"`: the class is on while in that segment.
 */

/** The part of a payload this reads. */
export interface PersonalizeData {
  user: Record<string, unknown>;
  account?: Record<string, unknown>;
  segments?: unknown[];
  account_segments?: unknown[];
}

const SELECTOR = "[data-hull-show],[data-hull-hide],[data-hull-text],[data-hull-class]";

/** The value at dot path `path` of `root`, own properties only. */
function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const key of path) {
    if (!node || typeof node !== "object" || !Object.prototype.hasOwnProperty.call(node, key)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** The text for `data-hull-text="<path>"`, or undefined when there is none to show. */
export function textOf(data: PersonalizeData, path: string): string | undefined {
  const trimmed = path.trim();
  if (!trimmed) return undefined;
  const value = trimmed.startsWith("account.")
    ? valueAt(data.account, [trimmed.slice("account.".length)]) ??
      valueAt(data.account, trimmed.slice("account.".length).split("."))
    : valueAt(data.user, trimmed.split("."));
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.filter((v) => typeof v !== "object").join(", ");
  return undefined;
}

/** Applies every `data-hull-*` attribute under `root` for `data`. */
export function personalize(root: ParentNode, data: PersonalizeData): void {
  const names = new Set<string>();
  for (const list of [data.segments, data.account_segments]) {
    if (Array.isArray(list)) { for (const s of list) if (typeof s === "string") names.add(s); }
  }
  const elements = root.querySelectorAll<HTMLElement>(SELECTOR);
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i];
    const show = el.getAttribute("data-hull-show");
    const hide = el.getAttribute("data-hull-hide");
    if (show !== null) el.hidden = !names.has(show.trim());
    else if (hide !== null) el.hidden = names.has(hide.trim());
    const text = el.getAttribute("data-hull-text");
    if (text !== null) {
      const value = textOf(data, text);
      if (value !== undefined && el.textContent !== value) el.textContent = value;
    }
    const toggle = el.getAttribute("data-hull-class");
    const colon = toggle ? toggle.lastIndexOf(":") : -1;
    if (toggle && colon > 0 && toggle.slice(colon + 1).trim()) {
      el.classList.toggle(toggle.slice(colon + 1).trim(), names.has(toggle.slice(0, colon).trim()));
    }
  }
}
