/**
 * The one-line page stub shown on `/` and in docs/snippet.md. Not part of the bundle: pages
 * paste it before the async script tag, so `hullBrowser.identify(…)`, `on`, `off` and `once`
 * can be called before the bundle has loaded; each call is queued as `[method, ...args]` in the
 * `window.hullBrowser` array, which the bundle replays in order when it runs.
 */
export const STUB_JS = "window.hullBrowser=window.hullBrowser||[];" +
  '["identify","on","off","once"].forEach(function(m){hullBrowser[m]=hullBrowser[m]||' +
  "function(){hullBrowser.push([m].concat([].slice.call(arguments)))}})";

/** The stub in a script element, as a page pastes it. */
export const STUB_TAG = `<script>${STUB_JS}</script>`;
