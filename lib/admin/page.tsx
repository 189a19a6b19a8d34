/** Renders a dashboard page in the admin shell, with the session's CSRF token and banners. */
import type { Context } from "hono";
import type { ComponentChildren } from "preact";
import { AdminLayout } from "../../components/admin/AdminLayout.tsx";
import type { AppEnv } from "../app_context.ts";
import { renderPage } from "../render.ts";

export function adminPage(
  c: Context<AppEnv>,
  title: string,
  body: ComponentChildren,
  status = 200,
): Response {
  const mode = c.var.ctx.live.settings.identity_mode ?? "off";
  const warning = mode === "off"
    ? (
      <span>
        Identity verification is off: any browser that claims an email or id receives that user's
        public profile. <a href="/admin/settings">Change it in Settings</a>.
      </span>
    )
    : undefined;
  return renderPage(
    <AdminLayout title={title} path={c.req.path} csrf={c.var.session?.csrf ?? ""} warning={warning}>
      {body}
    </AdminLayout>,
    status,
  );
}

/** The hidden CSRF field every admin form carries. */
export function Csrf(props: { c: Context<AppEnv> }) {
  return <input type="hidden" name="_csrf" value={props.c.var.session?.csrf ?? ""} />;
}

/** Formats a timestamp as "HH:MM:SS (N min ago)". */
export function since(ms: number, now = Date.now()): string {
  const mins = Math.round((now - ms) / 60_000);
  const t = new Date(ms).toISOString().slice(11, 19);
  return mins < 1 ? `${t} (just now)` : `${t} (${mins} min ago)`;
}
