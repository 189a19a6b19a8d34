import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { AdminLayout } from "../../components/admin/AdminLayout.tsx";
import {
  DEVICE_COOKIE,
  DEVICE_TTL_MS,
  SESSION_COOKIE,
  SESSION_TTL_MS,
} from "../../lib/admin/auth.ts";
import type { LoginClient } from "../../lib/admin/login_throttle.ts";
import type { AppEnv } from "../../lib/app_context.ts";
import { requestClient, requestOrigin } from "../../lib/proxy.ts";
import { renderPage } from "../../lib/render.ts";

/** Cookies are `Secure` when visitors reach us over https (as the trusted proxy says). */
function secure(c: Context<AppEnv>): boolean {
  return requestOrigin(c, c.var.ctx.config.trustProxy).startsWith("https:");
}

/** GET /admin/login */
export function handler(c: Context<AppEnv>) {
  return renderPage(<LoginPage configured={c.var.ctx.auth.configured} />);
}

/**
 * POST /admin/login: throttled per device cookie, or per IP for a browser without one
 * (lib/admin/login_throttle.ts), constant-time password check, signed session cookie, and a
 * fresh device cookie on success.
 */
export async function post(c: Context<AppEnv>) {
  const { auth, config } = c.var.ctx;
  if (!auth.configured) return renderPage(<LoginPage configured={false} />, 403);
  const client: LoginClient = {
    ip: requestClient(c, config.trustProxy),
    device: await auth.verifyDevice(getCookie(c, DEVICE_COOKIE)),
  };
  const wait = auth.throttle.wait(client);
  if (wait) return renderPage(<LoginPage configured error={waitMessage(client, wait)} />, 429);
  const body = await c.req.parseBody();
  const password = typeof body.password === "string" ? body.password : "";
  if (!(await auth.checkPassword(password))) {
    auth.throttle.fail(client);
    return renderPage(<LoginPage configured error="Wrong password." />, 401);
  }
  auth.throttle.succeed(client);
  const cookie = { httpOnly: true, sameSite: "Strict", secure: secure(c) } as const;
  setCookie(c, SESSION_COOKIE, await auth.issue(), {
    ...cookie,
    path: "/admin",
    maxAge: SESSION_TTL_MS / 1000,
  });
  // Only the login reads it; a new one each time, so a copied cookie ages out.
  setCookie(c, DEVICE_COOKIE, await auth.issueDevice(), {
    ...cookie,
    path: "/admin/login",
    maxAge: DEVICE_TTL_MS / 1000,
  });
  return c.redirect("/admin", 303);
}

function waitMessage(client: LoginClient, wait: number): string {
  const who = client.device ? "this browser" : "your address";
  const tail = client.device
    ? ""
    : " A browser that signed in here before has a budget of its own.";
  return `Too many failed attempts from ${who}: the next try is possible in ` +
    `${formatWait(wait)}. Each failed attempt doubles the wait (up to 15 minutes); ` +
    `the right password after that signs you in.${tail}`;
}

function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

/** POST /admin/logout (session and CSRF checked by the guard): the cookie is revoked. */
export async function logout(c: Context<AppEnv>) {
  const session = c.var.session;
  if (session) await c.var.ctx.auth.revoke(session);
  deleteCookie(c, SESSION_COOKIE, { path: "/admin" });
  return c.redirect("/admin/login", 303);
}

export default function LoginPage(props: { configured: boolean; error?: string }) {
  return (
    <AdminLayout title="Sign in" path="/admin/login">
      <div class="panel login">
        {props.configured
          ? (
            <form method="post" action="/admin/login" class="stack">
              <label for="password">Admin password</label>
              <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
                autofocus
              />
              {props.error && <p class="error" role="alert">{props.error}</p>}
              <p>
                <button type="submit">Sign in</button>
              </p>
            </form>
          )
          : (
            <p>
              The dashboard is disabled because no password is configured. Set{" "}
              <code>ADMIN_PASSWORD</code> in the server's environment and restart it.
            </p>
          )}
      </div>
    </AdminLayout>
  );
}
