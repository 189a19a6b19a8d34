/**
 * The browser snippet's source, bundled by scripts/build.ts from main.ts into
 * static/build/hull-browser.js: endpoint discovery from its own script tag, identity discovery
 * (identify(), Segment, Intercom, Hull.js, cache), the socket client, the payload cache and
 * diff, the page API (api.ts), `data-hull-*` personalization and the opted-in script. It runs
 * in visitors' browsers, so it may import only the shared types (lib/types.ts) and npm
 * socket.io-client; nothing of the server.
 */
export { createHullBrowser } from "./client.ts";
export { diff } from "./diff.ts";
