/** Test helper: a customer's page on localhost, with our script tag, under a strict CSP. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Serves the customer's page on localhost, under a strict CSP (no inline, no eval). node:http,
 * not Deno.serve: @hono/node-server (used by the connector in this same process) replaces the
 * global Response, which Deno.serve then refuses.
 */
export async function startPageServer(connector: string, analyticsJs: string, pageJs: string) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head>
<body><h1>Hello <span id="email">stranger</span></h1>
<p>plan: <b id="plan">?</b> segments: <i id="segments"></i></p>
<script src="/analytics.js"></script><script src="/page.js"></script>
<script src="${connector}/hull-browser.js" async></script></body></html>`;
  const csp = `default-src 'none'; script-src 'self' ${connector}; connect-src ${
    connector.replace(/^http/, "ws")
  }`;
  return await startSite({
    "/": { body: html, csp },
    "/analytics.js": { body: analyticsJs, type: "text/javascript", csp },
    "/page.js": { body: pageJs, type: "text/javascript", csp },
  });
}

/**
 * Serves `files` (path → HTML) as they are, with no CSP: a newcomer's page on a port of its own,
 * as `python3 -m http.server` would serve it.
 */
export async function startStaticPages(files: Record<string, string>) {
  return await startSite(
    Object.fromEntries(Object.entries(files).map(([path, body]) => [path, { body }])),
  );
}

/** One file of {@link startSite}: body, content type, and the CSP it is served with (if any). */
export interface SiteFile {
  body: string;
  type?: string;
  csp?: string;
}

/** Serves `files` (path → file) on localhost, each with its own CSP header when it has one. */
export async function startSite(files: Record<string, SiteFile>) {
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? "/", "http://x").pathname];
    if (!file) return res.writeHead(404).end("not found");
    const headers: Record<string, string> = {
      "content-type": file.type ?? "text/html; charset=utf-8",
    };
    if (file.csp) headers["content-security-policy"] = file.csp;
    res.writeHead(200, headers).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
