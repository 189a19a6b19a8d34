/**
 * Entry of the browser snippet (`/hull-browser.js`), bundled by `scripts/build.ts` into one
 * IIFE. Reads its own script tag, opens a websocket-only socket.io connection (Deno Deploy has
 * no sticky sessions, so no polling transport), and publishes `window.hullBrowser`.
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
 * methods that push such calls, so `hullBrowser.identify({ email })` works before load too.
 * The queued calls are replayed in order when the snippet runs. No eval, no inline code: works
 * under a CSP allowing `script-src` and `connect-src` (wss:) for the connector's host.
 */
import { io } from "socket.io-client";
import { createStore } from "./cache.ts";
import { createHullBrowser, type HullBrowser } from "./client.ts";
import { findSnippetScript, readConfig } from "./endpoint.ts";
import type { IdentityWindow } from "./identity.ts";

const win = window as Window & IdentityWindow & { hullBrowser?: unknown };
const existing = win.hullBrowser as Partial<HullBrowser> | unknown[] | undefined;

// Loaded twice (two tags, or a tag plus a tag manager): keep the first instance, one socket.
if (!(existing && typeof (existing as Partial<HullBrowser>).last === "function")) {
  // currentScript is only set now, during the first synchronous run.
  // A file:// page sends `Origin: null`, which no whitelist matches: say so, do not connect.
  const fromFile = location.protocol === "file:";
  const config = fromFile ? undefined : readConfig(findSnippetScript(document), location.href);
  if (fromFile) {
    console.warn(
      "[hull-browser] pages opened from file:// cannot connect: serve the page over http(s) " +
        "from a whitelisted domain",
    );
  } else if (!config) console.warn("[hull-browser] cannot tell the endpoint: no script src found");
  const { api, start } = createHullBrowser({
    win,
    store: createStore(() => win.localStorage),
    socket: config ? io(config.endpoint, { transports: ["websocket"] }) : undefined,
    shipId: config?.shipId,
    userHash: config?.userHash,
    search: location.search,
    dispatch: (detail) =>
      win.dispatchEvent(new CustomEvent("hull-browser:user.update", { detail })),
  });
  win.hullBrowser = api;
  start(existing);
}
