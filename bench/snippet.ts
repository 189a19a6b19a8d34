/**
 * Snippet figures for `bench/main.ts`: bundle size raw and gzipped, and in headless Chromium
 * the time from the script tag to the first `user.update` for a known visitor (fresh browser
 * context each run: no HTTP cache, no localStorage replay). Prints one JSON line.
 *
 *   deno run -A bench/snippet.ts [runs]
 */
import { launchBrowser } from "./harness/chromium.ts";
import { startPageServer } from "./harness/page_server.ts";
import { fixture, startTestServer } from "./harness/server.ts";

const RUNS = Number(Deno.args[0] ?? 5);
const path = new URL("../static/build/hull-browser.js", import.meta.url);
const bytes = await Deno.readFile(path);
const gz = new Uint8Array(
  await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip")))
    .arrayBuffer(),
);

// Ada (the fixture user), known to the connector before the page loads.
const ANALYTICS_JS = `window.analytics = { user: function () { return {
  id: function () { return "user-1001"; },
  anonymousId: function () { return "a1b2c3d4-anon"; },
  traits: function () { return { email: "ada@example.com" }; } }; } };`;
const PAGE_JS = `window.__t0 = performance.now();
window.hullBrowser = window.hullBrowser || [];
hullBrowser.push(["on", "user.update", function () {
  if (!window.__t1) window.__t1 = performance.now(); }]);`;

const ms: number[] = [];
let error: string | null = null;
const server = await startTestServer();
const site = await startPageServer(server.url, ANALYTICS_JS, PAGE_JS);
const browser = await launchBrowser();
try {
  if (!browser) throw new Error("Chromium is missing");
  const body = { ...(await fixture("user-update.json")), notification_id: crypto.randomUUID() };
  const res = await server.postNotification(body);
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  await res.body?.cancel();
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://localhost:${site.port}/`);
    const deadline = Date.now() + 10_000;
    let t: number | null = null;
    while (Date.now() < deadline) {
      t = await page.evaluate("window.__t1 ? window.__t1 - window.__t0 : null") as number | null;
      if (t !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await context.close();
    if (t === null) throw new Error("no user.update within 10 s");
    ms.push(t);
  }
} catch (err) {
  error = String((err as Error).message ?? err);
} finally {
  await browser?.close();
  await site.close();
  await server.close();
}
console.log(JSON.stringify({ raw: bytes.length, gzip: gz.length, ms, error }));
Deno.exit(0);
