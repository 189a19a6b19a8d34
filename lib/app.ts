/**
 * The Hono app: every HTTP request that is not socket.io's. Routes are Fresh-style modules in
 * `routes/`; this file only mounts them and sets what all of them share.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { serveStatic } from "@hono/node-server/serve-static";
import type { AppContext, AppEnv } from "./app_context.ts";
import { MAX_BODY_BYTES } from "./webhook.ts";
import * as index from "../routes/index.tsx";
import * as healthz from "../routes/healthz.ts";
import * as smartNotifier from "../routes/smart_notifier.ts";
import * as snippet from "../routes/snippet.ts";

/** Builds the app for one instance. */
export function createApp(ctx: AppContext, staticRoot: string): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("ctx", ctx);
    await next();
    // Security headers on every response; pages and the snippet set a CSP of their own.
    const h = c.res.headers;
    h.set("x-content-type-options", "nosniff");
    if (!h.has("referrer-policy")) h.set("referrer-policy", "strict-origin-when-cross-origin");
    if (!h.has("content-security-policy")) {
      h.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
    }
    if (!h.has("x-frame-options")) h.set("x-frame-options", "DENY");
  });

  app.get("/", index.handler);
  app.get("/healthz", healthz.handler);
  app.post(
    "/smart-notifier",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: `body is larger than ${MAX_BODY_BYTES} bytes` }, 413),
    }),
    smartNotifier.handler,
  );
  app.get("/hull-browser.js", snippet.handler);
  app.get("/ship.js", snippet.handler);
  app.use(
    "/static/*",
    serveStatic({ root: staticRoot, rewriteRequestPath: (p) => p.replace(/^\/static/, "") }),
  );

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    console.error(`unhandled error on ${c.req.method} ${c.req.path}:`, err);
    return c.json({ error: "internal error" }, 500);
  });
  return app;
}
