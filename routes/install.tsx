import type { Context } from "hono";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { Layout } from "../components/Layout.tsx";
import { Notice } from "../components/Notice.tsx";
import type { AppEnv } from "../lib/app_context.ts";
import { type ConnectionStatus, installConnection, publicOrigin } from "../lib/hull/install.ts";
import { loadManaged } from "../lib/hull/settings_sync.ts";
import { renderPage } from "../lib/render.ts";

/** Hull's dashboard shows the installation tab in a frame. */
const FRAME_ANCESTORS = "'self' https://*.hullapp.io https://hullapp.io https://*.hull.io";

export interface HullInstallProps {
  origin: string;
  status: ConnectionStatus;
  domains: string[];
  managed: string[];
  lastSync: string | null;
  identityMode: string;
  /** Settings Hull sent that were too large to store, and when (the old values stay). */
  refused: { reason: string; at: string } | null;
}

/**
 * GET /install (the manifest's installation tab) and GET /readme: the exact tag for this host
 * and the state of the connection. Hull appends `?ship=…&organization=…&secret=…`; they are
 * compared with the stored credentials, never echoed, and the page sends no referrer.
 */
export async function handler(c: Context<AppEnv>) {
  const { live, store } = c.var.ctx;
  const managed = await loadManaged(store);
  const times = Object.values(managed.managed).filter((t): t is string => Boolean(t)).sort();
  const res = renderPage(
    <HullInstallPage
      origin={publicOrigin(c)}
      status={(await installConnection(c.var.ctx.connectors, new URL(c.req.url).searchParams))
        .status}
      domains={live.domains.map((d) => d.raw)}
      managed={Object.keys(managed.managed)}
      lastSync={times.at(-1) ?? null}
      identityMode={live.settings.identity_mode ?? "off"}
      refused={managed.refused}
    />,
  );
  const csp = res.headers.get("content-security-policy")!;
  res.headers.set(
    "content-security-policy",
    csp.replace("frame-ancestors 'none'", `frame-ancestors ${FRAME_ANCESTORS}`),
  );
  res.headers.set("referrer-policy", "no-referrer");
  res.headers.set("cache-control", "no-store");
  return res;
}

const STATUS: Record<ConnectionStatus, [kind: "ok" | "warn", text: string]> = {
  connected: [
    "ok",
    "Connected: these are the credentials of the Hull connector this server serves.",
  ],
  waiting: [
    "warn",
    "Hull has not sent a signed notification yet. Save the connector's settings in Hull once; " +
    "settings and credentials arrive with the next notification.",
  ],
  other: [
    "warn",
    "This server serves another Hull connector. One deployment serves one connector: release " +
    "the other in the dashboard's settings, or deploy this connector again.",
  ],
  anonymous: ["ok", "Open this page from the connector's Installation tab in Hull to check it."],
};

export default function HullInstallPage(p: HullInstallProps) {
  const tag = `<script src="${p.origin}/hull-browser.js" async></script>`;
  const listener = `<script>
  window.hullBrowser = window.hullBrowser || [];
  hullBrowser.push(["on", "user.update", function (data) {
    // data = { user, segments, account, account_segments, events, changes }
  }]);
</script>`;
  const [kind, text] = STATUS[p.status];
  return (
    <Layout title="Browser Personalization · installation">
      <h1>Browser Personalization</h1>
      <Notice kind={kind}>{text}</Notice>
      <h2>Paste this tag on every page of your site</h2>
      <CodeBlock label="Before </body>" code={tag} />
      <CodeBlock label="Then react to updates" code={listener} />
      <h2>Settings</h2>
      {p.refused && (
        <Notice kind="warn">
          The settings saved in Hull at {p.refused.at} were refused, too large to store:{" "}
          {p.refused.reason}. The previous settings stay in force until the lists are shortened.
        </Notice>
      )}
      {p.managed.length
        ? (
          <p>
            Managed in Hull (last sync {p.lastSync}):{" "}
            {p.managed.map((k) => <code key={k} class="pill">{k}</code>)}
          </p>
        )
        : (
          <p class="muted">
            No setting has come from Hull yet: the server's own settings apply until you save them
            in the connector's Settings tab.
          </p>
        )}
      {p.domains.length
        ? (
          <p>
            Pages may connect from: {p.domains.map((d) => <code key={d} class="pill">{d}</code>)}
          </p>
        )
        : (
          <Notice kind="warn">
            No domain is whitelisted yet, so every page is refused: add your site's domains to
            "Whitelisted domains" in the connector's settings.
          </Notice>
        )}
      <p>
        Identity verification: <strong>{p.identityMode}</strong>
        {p.identityMode === "off" && (
          <span class="muted">
            {" "}(a browser claiming someone's email receives their public profile; see the README)
          </span>
        )}
      </p>
    </Layout>
  );
}
