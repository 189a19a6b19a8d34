/**
 * What every `/admin` request goes through: strict headers (no-store, a CSP without inline
 * script), a valid session (pages redirect to the login, the API answers 401) and, on every
 * write, a CSRF token bound to the session (403) plus a same-origin check.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../app_context.ts";
import { SESSION_COOKIE } from "./auth.ts";
import { requestHost } from "../proxy.ts";

export const ADMIN_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

const PUBLIC = new Set(["/admin/login"]);

/**
 * Refuses cross-site writes even before the token check (defense in depth). The host is the
 * request's, or `X-Forwarded-Host` only from a proxy that TRUST_PROXY names.
 */
export function sameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  if (!origin) return true; // non-browser clients; the CSRF token still applies
  try {
    const host = requestHost(c, c.var.ctx.config.trustProxy);
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}

export const adminGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  const api = c.req.path.startsWith("/admin/api/");
  const refuse = (status: 401 | 403, error: string) =>
    api || c.req.header("accept")?.includes("application/json")
      ? c.json({ error }, status)
      : c.text(error, status);

  const run = async (): Promise<Response | undefined> => {
    const { auth } = c.var.ctx;
    const write = c.req.method !== "GET" && c.req.method !== "HEAD";
    if (write && !sameOrigin(c)) return refuse(403, "cross-site request refused");
    if (PUBLIC.has(c.req.path)) {
      await next();
      return;
    }
    const verified = await auth.verify(getCookie(c, SESSION_COOKIE));
    const session = verified && !(await auth.isRevoked(verified)) ? verified : null;
    if (!session) {
      return api ? refuse(401, "not logged in") : c.redirect("/admin/login", 303);
    }
    c.set("session", session);
    if (write) {
      let token = c.req.header("x-csrf-token");
      if (!token && /form/.test(c.req.header("content-type") ?? "")) {
        const body = await c.req.parseBody();
        token = typeof body._csrf === "string" ? body._csrf : undefined;
      }
      if (!(await auth.checkCsrf(session, token))) {
        return refuse(403, "missing or invalid CSRF token: reload the page and try again");
      }
    }
    await next();
  };
  const res = await run();
  // A refusal replaces the response; otherwise the handler's response gets the headers.
  if (res) c.res = res;
  c.res.headers.set("cache-control", "no-store");
  c.res.headers.set("content-security-policy", ADMIN_CSP);
};
