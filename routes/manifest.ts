import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";
import { publicOrigin } from "../lib/hull/install.ts";
import { connectorManifest } from "../lib/hull/manifest.ts";

/** GET /manifest.json: the Hull connector manifest (docs/contracts.md §3). */
export function handler(c: Context<AppEnv>) {
  c.header("access-control-allow-origin", "*");
  c.header("cache-control", "public, max-age=300");
  return c.json(connectorManifest());
}

/** GET /readme.md: the manifest's readme, naming this host's exact tag. */
export function readme(c: Context<AppEnv>) {
  const tag = `<script src="${publicOrigin(c)}/hull-browser.js" async></script>`;
  c.header("access-control-allow-origin", "*");
  c.header("content-type", "text/markdown; charset=utf-8");
  // It names the host the request came in by (a plain host[:port], see publicOrigin): no
  // cache may hand it to another host.
  c.header("cache-control", "no-store");
  return c.body(`# Browser Personalization

Pushes the public part of your Hull profiles (the attributes and segments you whitelist) into
your visitors' browsers in real time, so pages can personalize.

## Install

1. In the connector's **Settings**, add your site's domains to **Whitelisted domains**.
2. Choose the **Public attributes**, **Public user segments** and **Public account segments**
   pages may receive, and optionally a **User filter**.
3. Paste this tag on every page of your site:

   \`\`\`html
   ${tag}
   \`\`\`
4. React to updates in the page:

   \`\`\`js
   window.hullBrowser = window.hullBrowser || [];
   hullBrowser.push(["on", "user.update", function (data) {
     // data = { user, segments, account, account_segments, events, changes }
   }]);
   \`\`\`
5. Visitors are recognised from Segment analytics.js, Intercom, Hull.js or
   \`hullBrowser.identify({ email })\`. A visitor Hull knows but has not sent yet is fetched
   from Hull's API when they first connect.

Settings saved in Hull apply to every instance within a second; the connector's dashboard
shows them read-only. To stop browsers from claiming someone else's email, set
**Identity verification** to *required* (see the connector's README).
`);
}

const images = new Map<string, Promise<Uint8Array>>();

/** GET /picture.png and /logo.png: the manifest's pictures. */
export async function image(c: Context<AppEnv>) {
  const name = c.req.path === "/logo.png" ? "logo.png" : "picture.png";
  let bytes = images.get(name);
  if (!bytes) {
    bytes = Deno.readFile(new URL(`../static/${name}`, import.meta.url));
    bytes.catch(() => images.delete(name));
    images.set(name, bytes);
  }
  c.header("content-type", "image/png");
  c.header("cache-control", "public, max-age=86400");
  c.header("access-control-allow-origin", "*");
  return c.body((await bytes) as Uint8Array<ArrayBuffer>);
}
