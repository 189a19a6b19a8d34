import type { Context } from "hono";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { Layout } from "../components/Layout.tsx";
import { Notice } from "../components/Notice.tsx";
import type { AppEnv } from "../lib/app_context.ts";
import { publicOrigin } from "../lib/hull/install.ts";
import { renderPage } from "../lib/render.ts";

export interface InstallProps {
  origin: string;
  domains: string[];
  publicTraits: string[];
  webhookSigned: boolean;
  hullKey: boolean;
  adminReady: boolean;
  identityMode: string;
}

/** GET /: how to install the connector on this host. */
export function handler(c: Context<AppEnv>) {
  const { config, live } = c.var.ctx;
  const res = renderPage(
    <InstallPage
      origin={publicOrigin(c)}
      domains={live.domains.map((d) => d.raw)}
      publicTraits={live.settings.public_traits}
      webhookSigned={config.webhookSecrets.length > 0}
      hullKey={config.hullPublicKey !== null || config.hull.keyHosts.length > 0}
      adminReady={config.adminPassword !== null}
      identityMode={live.settings.identity_mode ?? "off"}
    />,
  );
  // The page names the host the request came in by: no cache may hand it to another host.
  res.headers.set("cache-control", "no-store");
  return res;
}

export default function InstallPage(p: InstallProps) {
  const tag = `<script src="${p.origin}/hull-browser.js" async></script>`;
  const listener = `<script>
  window.hullBrowser = window.hullBrowser || [];
  hullBrowser.push(["on", "user.update", function (data) {
    // data = { user, segments, account, account_segments, events, changes }
    if (data.segments.indexOf("VIP") !== -1) document.body.classList.add("vip");
  }]);
</script>`;
  return (
    <Layout title="hull-browser · install">
      <h1>Personalize pages with your Hull profiles, in real time</h1>
      <p class="lead">
        Visitors' browsers open a socket to this server and say who they are. When Hull sends a user
        update, the visitor's <em>public</em>{" "}
        profile (the traits and segments you whitelist) reaches the page within milliseconds.
      </p>

      <h2>1. Add the tag to your site</h2>
      <CodeBlock label="Before </body>, on every page" code={tag} />
      <CodeBlock label="Then react to updates" code={listener} />
      <p>
        Visitors are recognised from Segment analytics.js, Intercom, Hull.js or{" "}
        <code>hullBrowser.identify(&#123; email &#125;)</code>.
      </p>

      <h2>2. Whitelist your domains</h2>
      {p.domains.length
        ? (
          <p>
            Pages may connect from: {p.domains.map((d) => <code key={d} class="pill">{d}</code>)}
          </p>
        )
        : (
          <Notice kind="warn">
            No domain is whitelisted yet, so every page is refused. Set{" "}
            <code>WHITELISTED_DOMAINS=example.com,*.example.com</code> or add them in the dashboard.
          </Notice>
        )}

      <h2>3. Point Hull at the webhook</h2>
      <CodeBlock label="Smart-notifier URL" code={`${p.origin}/smart-notifier`} />
      {p.webhookSigned || p.hullKey
        ? (
          <Notice kind="ok">
            Webhooks are authenticated with{" "}
            {[p.webhookSigned && "X-Hull-Browser-Signature", p.hullKey && "Hull's RS256 signature"]
              .filter(Boolean).join(" and ")}.
          </Notice>
        )
        : (
          <Notice kind="warn">
            No webhook secret is configured, so every webhook is refused. Set{" "}
            <code>WEBHOOK_SECRET</code> (HMAC-SHA256 of{" "}
            <code>"&lt;t&gt;.&lt;body&gt;"</code>, sent as{" "}
            <code>X-Hull-Browser-Signature: t=…,v1=…</code>) or <code>HULL_PUBLIC_KEY</code>.
          </Notice>
        )}

      <h2>4. Verify identities</h2>
      {p.identityMode === "required"
        ? (
          <Notice kind="ok">
            Verified identities are required: unverified emails and ids are ignored.
          </Notice>
        )
        : (
          <Notice kind="warn">
            Identity verification is{" "}
            <strong>{p.identityMode}</strong>: a browser that claims someone's email or id receives
            their public profile. Set <code>IDENTITY_SECRET</code> and pass{" "}
            <code>data-user-hash</code> from your backend (see the README's security model).
          </Notice>
        )}

      <h2>5. Choose what is public</h2>
      {p.publicTraits.length
        ? <p>Public traits: {p.publicTraits.map((t) => <code key={t} class="pill">{t}</code>)}</p>
        : (
          <Notice kind="warn">
            No trait is public: pages receive only the user id. Set <code>PUBLIC_TRAITS</code>{" "}
            or use the dashboard.
          </Notice>
        )}
      <p>
        <a class="button" href="/admin">Open the dashboard</a>
        {!p.adminReady && (
          <span class="muted">
            (set <code>ADMIN_PASSWORD</code> to enable it)
          </span>
        )}
      </p>
    </Layout>
  );
}
