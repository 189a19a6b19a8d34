/**
 * The Hono app: every HTTP request that is not socket.io's. Routes are Fresh-style modules in
 * `routes/`; this file only mounts them and sets what all of them share.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { serveStatic } from "@hono/node-server/serve-static";
import type { AppContext, AppEnv } from "./app_context.ts";
import { errorAnswer, MAX_BODY_BYTES } from "./webhook/endpoint.ts";
import { isStoreOutage, OUTAGE_MESSAGE, RETRY_AFTER_S } from "./store/outage.ts";
import * as index from "../routes/index.tsx";
import * as healthz from "../routes/healthz.ts";
import * as status from "../routes/status.ts";
import * as smartNotifier from "../routes/smart_notifier.ts";
import * as snippet from "../routes/snippet.ts";
import * as install from "../routes/install.tsx";
import * as manifest from "../routes/manifest.ts";
import { adminGuard } from "./admin/guard.ts";
import * as adminApi from "../routes/admin/api.ts";
import * as adminDomains from "../routes/admin/domains.tsx";
import * as adminIndex from "../routes/admin/index.tsx";
import * as adminLog from "../routes/admin/log.tsx";
import * as adminLogin from "../routes/admin/login.tsx";
import * as adminPreview from "../routes/admin/preview.tsx";
import * as adminRooms from "../routes/admin/rooms.tsx";
import * as adminSettings from "../routes/admin/settings.tsx";
import * as adminConnectors from "../routes/admin/connectors.tsx";
import { adminScope } from "./admin/scope.ts";
import { unknownConnectorPage } from "./admin/page.tsx";

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
  app.get("/status", status.handler);
  app.post("/status", status.handler);
  app.post(
    "/smart-notifier",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json(errorAnswer(413, `body is larger than ${MAX_BODY_BYTES} bytes`).body, 413),
    }),
    smartNotifier.handler,
  );
  app.get("/hull-browser.js", snippet.handler);
  app.get("/ship.js", snippet.handler);
  app.get("/manifest.json", manifest.handler);
  app.get("/readme.md", manifest.readme);
  app.get("/picture.png", manifest.image);
  app.get("/logo.png", manifest.image);
  app.get("/install", install.handler);
  app.get("/readme", install.handler);
  app.use("/admin", adminGuard);
  app.use("/admin/*", adminGuard);
  app.get("/admin/login", adminLogin.handler);
  app.post("/admin/login", adminLogin.post);
  app.post("/admin/logout", adminLogin.logout);
  app.get("/admin/connectors", (c) => adminConnectors.handler(c));
  app.post("/admin/connectors/:id/remove", adminConnectors.remove);
  // Pages and API scoped to one connector by `?connector=` (lib/admin/scope.ts).
  const scoped = adminScope(unknownConnectorPage);
  app.get("/admin", scoped, adminIndex.handler);
  app.get("/admin/rooms", scoped, adminRooms.handler);
  app.get("/admin/domains", scoped, (c) => adminDomains.handler(c));
  app.post("/admin/domains", scoped, adminDomains.post);
  app.get("/admin/settings", scoped, (c) => adminSettings.handler(c));
  app.post("/admin/settings", scoped, adminSettings.post);
  app.get("/admin/log", scoped, adminLog.handler);
  app.get("/admin/preview", scoped, (c) => adminPreview.handler(c));
  app.post("/admin/preview", scoped, adminPreview.post);
  app.get("/admin/api/stats", adminApi.statsJson);
  app.get("/admin/api/session", adminApi.session);
  app.get("/admin/api/log", scoped, adminLog.json);
  app.get("/admin/api/log/stream", scoped, adminLog.stream);

  app.use(
    "/static/*",
    serveStatic({ root: staticRoot, rewriteRequestPath: (p) => p.replace(/^\/static/, "") }),
  );

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    // Hull's calls get Hull's answer shape (flow_control "retry") even from here.
    const forHull = c.req.path === "/smart-notifier";
    // The store is away (Redis down, KV failing): the request was fine, retrying will do.
    if (isStoreOutage(err)) {
      console.error(`${c.req.method} ${c.req.path}: ${OUTAGE_MESSAGE} (${err.message})`);
      c.header("retry-after", String(RETRY_AFTER_S));
      c.header("cache-control", "no-store");
      return c.json(
        forHull ? errorAnswer(503, OUTAGE_MESSAGE).body : { error: OUTAGE_MESSAGE },
        503,
      );
    }
    console.error(`unhandled error on ${c.req.method} ${c.req.path}:`, err);
    return c.json(
      forHull ? errorAnswer(500, "internal error").body : { error: "internal error" },
      500,
    );
  });
  return app;
}
