/**
 * Where the snippet connects: the origin of its own `<script src>` (so a page needs nothing but
 * the script tag), unless `data-hull-endpoint` says otherwise; `data-hull-id` names the
 * connector, whose namespace (`/<id>`) the socket joins. Pure functions over script-like objects.
 */

/** The parts of an `HTMLScriptElement` we read. */
export interface ScriptLike {
  src?: string;
  getAttribute(name: string): string | null;
}

/** The parts of `Document` we read. */
export interface DocumentLike {
  currentScript?: unknown;
  getElementsByTagName(name: "script"): ArrayLike<ScriptLike>;
}

/** Connection settings read from the script tag. */
export interface SnippetConfig {
  /** Origin to connect to, e.g. `https://hull-browser.example.com`. */
  endpoint: string;
  /** Connector id from `data-hull-id`, sent as `shipId` in `user.fetch`. */
  shipId?: string;
  /** Identity hash from `data-user-hash`, computed by the site's backend (verified identities). */
  userHash?: string;
  /** `data-allow-script` on the tag: the connector's `script` setting may run on this page. */
  allowScript?: boolean;
}

/** A Hull connector id (24 hex digits), as `data-hull-id` and Hull.js's `ship.id` name it. */
const CONNECTOR_ID = /^[0-9a-f]{24}$/i;

/**
 * The socket.io namespace of the connector `shipId` names (docs/contracts.md §4): `/<id>` for a
 * Hull connector id, `/` (the standalone connector) without one. A malformed id is not guessed
 * at: `/`, with a warning for the console.
 */
export function namespaceFor(shipId: string | undefined): { namespace: string; warning?: string } {
  if (shipId === undefined || shipId === "") return { namespace: "/" };
  const id = shipId.trim();
  if (CONNECTOR_ID.test(id)) return { namespace: `/${id.toLowerCase()}` };
  return {
    namespace: "/",
    warning: `[hull-browser] data-hull-id "${shipId.slice(0, 40)}" is not a Hull connector id ` +
      "(24 hexadecimal digits): connecting to this server's own connector instead",
  };
}

/** Matches our bundle's file names, also with a query or hash (`?v=2` cache busting). */
const OWN_SRC = /\/(hull-browser|ship)\.js([?#].*)?$/;

/**
 * Our own script tag: `document.currentScript` (set while a classic script, async or not,
 * first runs), else the last script whose src is `…/hull-browser.js` or `…/ship.js`.
 */
export function findSnippetScript(doc: DocumentLike): ScriptLike | undefined {
  const current = doc.currentScript as ScriptLike | null | undefined;
  if (current && current.src) return current;
  const scripts = doc.getElementsByTagName("script");
  for (let i = scripts.length - 1; i >= 0; i--) {
    if (OWN_SRC.test(scripts[i].src || "")) return scripts[i];
  }
  return undefined;
}

/**
 * Reads endpoint and connector id from `script`. Only the origin of the URL is kept: the
 * socket.io path is always `/socket.io/` and every namespace is served the same (docs/contracts.md
 * §4), so a legacy `https://host/<connectorId>` endpoint still works. Undefined when no usable URL.
 */
export function readConfig(
  script: ScriptLike | undefined,
  pageHref: string,
): SnippetConfig | undefined {
  if (!script) return undefined;
  const raw = script.getAttribute("data-hull-endpoint") || script.src;
  if (!raw) return undefined;
  let origin: string;
  try {
    origin = new URL(raw, pageHref).origin;
  } catch {
    return undefined;
  }
  if (!/^https?:/.test(origin)) return undefined;
  const config: SnippetConfig = { endpoint: origin };
  const shipId = script.getAttribute("data-hull-id");
  if (shipId) config.shipId = shipId;
  const userHash = script.getAttribute("data-user-hash");
  if (userHash) config.userHash = userHash;
  const allow = script.getAttribute("data-allow-script");
  if (allow !== null && allow !== "false") config.allowScript = true;
  return config;
}

/** What Hull.js hands an embedded connector script (`Hull.onEmbed(fn)` → `fn(root, deployment)`). */
export interface HullDeployment {
  ship?: { id?: unknown; source_url?: unknown };
  platform?: { id?: unknown };
}

/**
 * True when Hull.js embedded this script (the manifest's `index`, `ship.js`, loaded by Hull.js
 * with no attributes of ours): the connector is then named by the deployment Hull.js passes to
 * `Hull.onEmbed`, as the original connector booted. A tag a page wrote itself boots at once.
 */
export function embeddedByHull(script: ScriptLike | undefined, hull: unknown): boolean {
  const onEmbed = hull && (hull as { onEmbed?: unknown }).onEmbed;
  return typeof onEmbed === "function" && !!script &&
    /\/ship\.js([?#].*)?$/.test(script.src || "") &&
    script.getAttribute("data-hull-id") === null &&
    script.getAttribute("data-hull-endpoint") === null;
}

/**
 * The connection settings of a Hull.js deployment: endpoint from `ship.source_url`, connector
 * id from `ship.id`; `base` (read from the tag) supplies the rest, and the endpoint when the
 * deployment has none.
 */
export function configFromDeployment(
  deployment: HullDeployment | undefined,
  base: SnippetConfig | undefined,
  pageHref: string,
): SnippetConfig | undefined {
  const ship = deployment?.ship;
  let endpoint = base?.endpoint;
  if (typeof ship?.source_url === "string") {
    try {
      const origin = new URL(ship.source_url, pageHref).origin;
      if (/^https?:/.test(origin)) endpoint = origin;
    } catch { /* keep the tag's */ }
  }
  if (!endpoint) return undefined;
  const config: SnippetConfig = { ...base, endpoint };
  if (typeof ship?.id === "string" && ship.id) config.shipId = ship.id;
  return config;
}
