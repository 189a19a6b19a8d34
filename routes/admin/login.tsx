import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { AdminLayout } from "../../components/admin/AdminLayout.tsx";
import { SESSION_COOKIE, SESSION_TTL_MS } from "../../lib/admin/auth.ts";
import type { AppEnv } from "../../lib/app_context.ts";
import { renderPage } from "../../lib/render.ts";

function clientIp(c: Context<AppEnv>): string {
  const { config } = c.var.ctx;
  const fwd = c.req.header("x-forwarded-for");
  if (config.trustProxy && fwd) return fwd.split(",")[0].trim();
  // deno-lint-ignore no-explicit-any
  const incoming = (c.env as any)?.incoming;
  return incoming?.socket?.remoteAddress ?? "unknown";
}

function secure(c: Context<AppEnv>): boolean {
  const proto = c.req.header("x-forwarded-proto") ?? new URL(c.req.url).protocol.replace(":", "");
  return proto.split(",")[0].trim() === "https";
}

/** GET /admin/login */
export function handler(c: Context<AppEnv>) {
  return renderPage(<LoginPage configured={c.var.ctx.auth.configured} />);
}

/** POST /admin/login: throttled per IP, constant-time password check, signed session cookie. */
export async function post(c: Context<AppEnv>) {
  const { auth } = c.var.ctx;
  if (!auth.configured) return renderPage(<LoginPage configured={false} />, 403);
  const ip = clientIp(c);
  const wait = auth.throttled(ip);
  if (wait) {
    return renderPage(
      <LoginPage
        configured
        error={`Too many failed attempts from your address: the next try is possible in ` +
          `${formatWait(wait)}. Each failed attempt doubles the wait (up to 15 minutes); ` +
          `the right password after that signs you in.`}
      />,
      429,
    );
  }
  const body = await c.req.parseBody();
  const password = typeof body.password === "string" ? body.password : "";
  if (!(await auth.checkPassword(password))) {
    auth.recordFailure(ip);
    return renderPage(<LoginPage configured error="Wrong password." />, 401);
  }
  auth.recordSuccess(ip);
  setCookie(c, SESSION_COOKIE, await auth.issue(), {
    httpOnly: true,
    sameSite: "Strict",
    secure: secure(c),
    path: "/admin",
    maxAge: SESSION_TTL_MS / 1000,
  });
  return c.redirect("/admin", 303);
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
