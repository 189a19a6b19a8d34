import type { Context } from "hono";
import { Island } from "../../components/admin/AdminLayout.tsx";
import LiveStats, { type Stats } from "../../islands/LiveStats.tsx";
import { clusterStats, localSnapshot } from "../../lib/admin/cluster.ts";
import { adminPage } from "../../lib/admin/page.tsx";
import type { AppContext, AppEnv } from "../../lib/app_context.ts";
import { Notice } from "../../components/Notice.tsx";
import { WebhookAuthNotice } from "../../components/WebhookAuthNotice.tsx";
import { ignoredSeeds, ignoredSeedsNotice } from "../../lib/seeds.ts";
import { webhookAuthState } from "../../lib/webhook/auth_state.ts";
import { scopeOf } from "../../lib/admin/scope.ts";
import { connectorRow } from "../../lib/admin/connector_list.ts";
import { STANDALONE_ID } from "../../lib/connector/directory.ts";
import { ConnectorFacts } from "../../components/admin/ConnectorTable.tsx";
import { CodeBlock } from "../../components/CodeBlock.tsx";
import { publicOrigin } from "../../lib/hull/install.ts";
import { connectorTag } from "../install.tsx";

/** Stats across every instance (also the JSON behind the live island). */
export async function stats(ctx: AppContext): Promise<Stats> {
  return await clusterStats(ctx.io, localSnapshot(ctx.io, ctx.metrics, ctx.config.instance));
}

/**
 * GET /admin?connector=: the connector in scope (organization, status, last notification,
 * sockets, refusals), then live counters of the deployment across instances.
 */
export async function handler(c: Context<AppEnv>) {
  const { ctx } = c.var;
  const { config } = ctx;
  const connector = scopeOf(c);
  const [initial, summary] = await Promise.all([stats(ctx), connectorRow(ctx, connector)]);
  // The environment seeds only ever seed the standalone connector.
  const ignored = connector.id === STANDALONE_ID
    ? ignoredSeeds(config.seed, await connector.store.getConfig())
    : [];
  return adminPage(
    c,
    "Overview",
    <>
      {ignored.length > 0 && <Notice kind="warn">{ignoredSeedsNotice(ignored)}</Notice>}
      {connector.id === STANDALONE_ID && <WebhookAuthNotice auth={webhookAuthState(config)} />}
      <ConnectorFacts summary={summary} />
      <CodeBlock
        label="The tag of its pages (before </body>)"
        code={connectorTag(
          publicOrigin(c),
          connector.id === STANDALONE_ID ? null : connector.id,
        )}
      />
      <h2>Every connector of this deployment</h2>
      <Island name="LiveStats" component={LiveStats} props={{ initial }} />
      <p class="muted">
        Counters are summed over every connector and {initial.instances}{" "}
        instance(s) since each started; latencies cover the last 5 minutes.
      </p>
    </>,
  );
}
