import type { Context } from "hono";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { Layout } from "../components/Layout.tsx";
import { Notice } from "../components/Notice.tsx";
import type { AppEnv } from "../lib/app_context.ts";
import { type ConnectionStatus, installConnection, publicOrigin } from "../lib/hull/install.ts";
import { loadManaged } from "../lib/hull/settings_sync.ts";
import { renderPage } from "../lib/render.ts";
import { HULL_CONNECTOR_ID, STANDALONE_ID } from "../lib/connector/directory.ts";

/** Hull's dashboard shows the installation tab in a frame. */
const FRAME_ANCESTORS = "'self' https://*.hullapp.io https://hullapp.io https://*.hull.io";

export interface HullInstallProps {
  origin: string;
  /** The Hull connector the tag names (`data-hull-id`); null: the standalone connector's tag. */
  hullId: string | null;
  status: ConnectionStatus;
  /** False: the settings are not shown (a Hull connector's, to a page without its secret). */
  showSettings?: boolean;
  domains: string[];
  managed: string[];
  lastSync: string | null;
  identityMode: string;
  /** Settings Hull sent that were too large to store, and when (the old values stay). */
  refused: { reason: string; at: string } | null;
}

/**
 * GET /install (the manifest's installation tab) and GET /readme: the exact tag for this host
 * and connector and the state of the connection. Hull appends `?ship=…&organization=…&secret=…`
 * (`?connector=<id>` names a Hull connector too); the tag names that connector with
 * `data-hull-id`, without either it is the standalone connector's. The credentials are compared
 * with the connector's stored ones, never echoed, and the page sends no referrer. A Hull
 * connector's settings are shown only with its credentials; the standalone connector's, as
 * before, to anyone. An id that is not 24 hex digits is a 404.
 */
export async function handler(c: Context<AppEnv>) {
  const query = new URL(c.req.url).searchParams;
  const id = (query.get("ship") || query.get("connector") || STANDALONE_ID).toLowerCase();
  const res = id !== STANDALONE_ID && !HULL_CONNECTOR_ID.test(id)
    ? renderPage(
      <Layout title="Browser Personalization · installation">
        <h1>No such connector</h1>
        <p>
          A connector id is 24 hexadecimal digits. Open this page from the connector's Installation
          tab in Hull.
        </p>
      </Layout>,
      404,
    )
    : renderPage(await installPage(c, id, query));
  const csp = res.headers.get("content-security-policy")!;
  res.headers.set(
    "content-security-policy",
    csp.replace("frame-ancestors 'none'", `frame-ancestors ${FRAME_ANCESTORS}`),
  );
  res.headers.set("referrer-policy", "no-referrer");
  res.headers.set("cache-control", "no-store");
  return res;
}

/** The page of connector `id` (STANDALONE_ID or a Hull connector's id, registered or not yet). */
async function installPage(c: Context<AppEnv>, id: string, query: URLSearchParams) {
  const { connectors } = c.var.ctx;
  const hullId = id === STANDALONE_ID ? null : id;
  // A Hull connector's parts only with its credentials ("connected"); the standalone's always.
  const { status, connector } = hullId === null
    ? { status: "anonymous" as const, connector: connectors.standalone }
    : await installConnection(connectors, hullQuery(query, hullId));
  if (!connector) {
    return (
      <HullInstallPage
        origin={publicOrigin(c)}
        hullId={hullId}
        status={status}
        showSettings={false}
        domains={[]}
        managed={[]}
        lastSync={null}
        identityMode="off"
        refused={null}
      />
    );
  }
  const { live, store } = connector;
  const managed = await loadManaged(store);
  const times = Object.values(managed.managed).filter((t): t is string => Boolean(t)).sort();
  return (
    <HullInstallPage
      origin={publicOrigin(c)}
      hullId={hullId}
      status={status}
      domains={live.domains.map((d) => d.raw)}
      managed={Object.keys(managed.managed)}
      lastSync={times.at(-1) ?? null}
      identityMode={live.settings.identity_mode ?? "off"}
      refused={managed.refused}
    />
  );
}

/** The query as `installConnection` reads it: `ship` is the connector the page is about. */
function hullQuery(query: URLSearchParams, id: string): URLSearchParams {
  const q = new URLSearchParams(query);
  q.set("ship", id);
  return q;
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
    "These are not the credentials this server holds for the connector (another secret or " +
    "organization). If the connector was reinstalled in Hull, remove the old one in the " +
    "dashboard's Connectors; its next notification registers it again.",
  ],
  anonymous: ["ok", "Open this page from the connector's Installation tab in Hull to check it."],
};

/**
 * The script tag of a connector's pages: `data-hull-id` names a Hull connector (its namespace);
 * the standalone connector's tag (`hullId` null) has none.
 */
export function connectorTag(origin: string, hullId: string | null): string {
  const id = hullId === null ? "" : ` data-hull-id="${hullId}"`;
  return `<script src="${origin}/hull-browser.js"${id} async></script>`;
}

export default function HullInstallPage(p: HullInstallProps) {
  const tag = connectorTag(p.origin, p.hullId);
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
      {p.showSettings === false
        ? (
          <p class="muted">
            Open this page from the connector's Installation tab in Hull to see its settings.
          </p>
        )
        : <Settings {...p} />}
    </Layout>
  );
}

/** What the connector's settings let through: managed keys, domains, identity mode. */
function Settings(p: HullInstallProps) {
  return (
    <>
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
    </>
  );
}
