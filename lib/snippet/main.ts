/**
 * Entry of the browser snippet (`/hull-browser.js`, also `/ship.js`), bundled by
 * `scripts/build.ts` into one IIFE. Reads its own script tag, opens a websocket-only socket.io
 * connection (Deno Deploy has no sticky sessions, so no polling transport), and publishes
 * `window.hullBrowser`. Embedded by Hull.js (the manifest's `index`), it boots through
 * `Hull.onEmbed` with the deployment Hull.js passes, as the original connector did.
 *
 * Pages may call the API before this async script has loaded, analytics.js style:
 *
 * ```js
 * window.hullBrowser = window.hullBrowser || [];
 * hullBrowser.push(["on", "user.update", function (detail) { ... }]);
 * hullBrowser.push(["identify", { external_id: "user-1001" }]);
 * ```
 *
 * or with the one-line stub of docs/snippet.md, which adds `identify`, `on`, `off` and `once`
 * methods that push such calls, so `hullBrowser.identify({ email })` works before load too
 * (any other method queues with `push`). The queued calls are replayed in order when the snippet runs. No eval and no
 * inline code unless the tag opts in to the connector's `script` setting (`data-allow-script`):
 * works under a CSP allowing `script-src` and `connect-src` (wss:) for the connector's host.
 */
import { io } from "socket.io-client";
import { createStore, type UpdateDetail } from "./cache.ts";
import { createHullBrowser, type HullBrowser } from "./client.ts";
import {
  configFromDeployment,
  embeddedByHull,
  findSnippetScript,
  type HullDeployment,
  namespaceFor,
  readConfig,
  type SnippetConfig,
} from "./endpoint.ts";
import type { IdentityWindow } from "./identity.ts";
import { personalize } from "./personalize.ts";

const win = window as Window & IdentityWindow & { hullBrowser?: unknown };

/** `data-hull-*` attributes for every update; once more when the DOM is parsed, if it was not. */
function applyToPage(detail: UpdateDetail) {
  personalize(document, detail);
  if (document.readyState !== "loading") return;
  document.addEventListener("DOMContentLoaded", () => {
    const api = win.hullBrowser as Partial<HullBrowser> | undefined;
    const last = typeof api?.last === "function" ? api.last() : undefined;
    if (last) personalize(document, last);
  }, { once: true });
}

function boot(config: SnippetConfig | undefined, platformId?: string) {
  const existing = win.hullBrowser as Partial<HullBrowser> | unknown[] | undefined;
  // Loaded twice (two tags, or a tag plus a tag manager): keep the first instance, one socket.
  if (existing && typeof (existing as Partial<HullBrowser>).last === "function") return;
  if (!config && location.protocol !== "file:") {
    console.warn("[hull-browser] cannot tell the endpoint: no script src found");
  }
  // The connector's namespace: `/<data-hull-id>`, or `/` for the server's standalone connector.
  const { namespace, warning } = namespaceFor(config?.shipId);
  if (warning) console.warn(warning);
  const { api, start } = createHullBrowser({
    win,
    store: createStore(() => win.localStorage),
    socket: config
      ? io(config.endpoint + (namespace === "/" ? "" : namespace), { transports: ["websocket"] })
      : undefined,
    shipId: config?.shipId,
    platformId,
    userHash: config?.userHash,
    allowScript: config?.allowScript,
    search: location.search,
    dispatch: (detail) =>
      win.dispatchEvent(new CustomEvent("hull-browser:user.update", { detail })),
    personalize: applyToPage,
  });
  win.hullBrowser = api;
  start(existing);
}

// currentScript is only set now, during the first synchronous run.
const tag = findSnippetScript(document);
// A file:// page sends `Origin: null`, which no whitelist matches: say so, do not connect.
const fromFile = location.protocol === "file:";
const tagConfig = fromFile ? undefined : readConfig(tag, location.href);
if (fromFile) {
  console.warn(
    "[hull-browser] pages opened from file:// cannot connect: serve the page over http(s) " +
      "from a whitelisted domain",
  );
}
if (!fromFile && embeddedByHull(tag, win.Hull)) {
  const hull = win.Hull as { onEmbed(fn: (root: unknown, d?: HullDeployment) => void): void };
  hull.onEmbed((_root, deployment) => {
    const platform = deployment?.platform?.id;
    boot(
      configFromDeployment(deployment, tagConfig, location.href),
      typeof platform === "string" ? platform : undefined,
    );
  });
} else {
  boot(tagConfig);
}
