import type { Context } from "hono";
import { CodeBlock } from "../components/CodeBlock.tsx";
import { Layout } from "../components/Layout.tsx";
import { Notice } from "../components/Notice.tsx";
import type { AppEnv } from "../lib/app_context.ts";
import { publicOrigin } from "../lib/hull/install.ts";
import { type WebhookAuthState, webhookAuthState } from "../lib/webhook/auth_state.ts";
import { WebhookAuthNotice } from "../components/WebhookAuthNotice.tsx";
import { ignoredSeeds } from "../lib/seeds.ts";
import { renderPage } from "../lib/render.ts";
import { STUB_TAG } from "../lib/snippet/stub.ts";

export interface InstallProps {
  origin: string;
  auth: WebhookAuthState;
  adminReady: boolean;
  /** How many environment seeds lost to stored settings (named in the dashboard only). */
  ignoredSeeds: number;
}

/**
 * GET /: how to install the connector on this host. Public, so it shows no setting (domains,
 * public traits, identity mode): only the tag, and what any webhook sender or visitor of
 * `/admin/login` learns anyway (whether webhooks can be authenticated, whether the dashboard
 * is enabled).
 */
export function handler(c: Context<AppEnv>) {
  const { config, live } = c.var.ctx;
  const stored = { settings: live.settings, domains: live.domains.map((d) => d.raw) };
  const res = renderPage(
    <InstallPage
      origin={publicOrigin(c)}
      auth={webhookAuthState(config)}
      adminReady={config.adminPassword !== null}
      ignoredSeeds={ignoredSeeds(config.seed, stored).length}
    />,
  );
  // The page names the host the request came in by: no cache may hand it to another host.
  res.headers.set("cache-control", "no-store");
  return res;
}

export default function InstallPage(p: InstallProps) {
  const tag = `<script src="${p.origin}/hull-browser.js" async></script>`;
  const listener = `<script>
  hullBrowser.on("user.update", function (data) {
    // data = { user, segments, account, account_segments, events, changes }
    if (data.segments.indexOf("VIP") !== -1) document.body.classList.add("vip");
  });
  hullBrowser.identify({ email: "ada@example.com" }); // or let Segment, Intercom, Hull.js tell
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
      <CodeBlock
        label="In <head>: the stub queues calls made before the tag loads"
        code={STUB_TAG}
      />
      <CodeBlock label="Before </body>, on every page" code={tag} />
      <CodeBlock label="Then react to updates" code={listener} />
      <p>
        Under a Content-Security-Policy without{" "}
        <code>'unsafe-inline'</code>, put the stub and your calls in a script file of your own. The
        browser console explains, prefixed <code>[hull-browser]</code>, why a page cannot connect.
      </p>
      <p>
        Installed in Hull? Each Hull connector's Installation tab shows its own tag, with{" "}
        <code>data-hull-id</code>{" "}
        naming the connector; this tag, without it, serves the server's standalone connector.
      </p>

      <h2>2. Whitelist your domains and choose what is public</h2>
      <p>
        Pages connect only from whitelisted domains, and receive only the traits and segments you
        make public: set them in the dashboard (<code>WHITELISTED_DOMAINS</code> and{" "}
        <code>PUBLIC_TRAITS</code> seed them on the first boot only).
      </p>
      {p.ignoredSeeds > 0 && (
        <Notice kind="warn">
          Some environment seeds are ignored because settings are already stored; the dashboard
          names them and is where to change them.
        </Notice>
      )}

      <h2>3. Verify identities</h2>
      <p>
        Unless identities are verified, a browser that claims someone's email or id receives their
        public profile. Set <code>IDENTITY_SECRET</code>{" "}
        on this server, sign the visitor's identifier on your backend and pass the hash as{" "}
        <code>data-user-hash</code> on the tag, then choose "required" in the dashboard's Settings.
      </p>

      <h2>4. Point Hull (or your sender) at the webhook</h2>
      <CodeBlock label="Smart-notifier URL" code={`${p.origin}/smart-notifier`} />
      <WebhookAuthNotice auth={p.auth} />

      <p>
        <a class="button" href="/admin">Open the dashboard</a>
        {!p.adminReady && (
          <span class="muted">
            (the dashboard is disabled: set <code>ADMIN_PASSWORD</code> to enable it)
          </span>
        )}
      </p>
    </Layout>
  );
}
