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

/** Stats across every instance (also the JSON behind the live island). */
export async function stats(ctx: AppContext): Promise<Stats> {
  return await clusterStats(ctx.io, localSnapshot(ctx.io, ctx.metrics, ctx.config.instance));
}

/** GET /admin: live counters across instances. */
export async function handler(c: Context<AppEnv>) {
  const { config, store } = c.var.ctx;
  const initial = await stats(c.var.ctx);
  const ignored = ignoredSeeds(config.seed, await store.getConfig());
  return adminPage(
    c,
    "Overview",
    <>
      {ignored.length > 0 && <Notice kind="warn">{ignoredSeedsNotice(ignored)}</Notice>}
      <WebhookAuthNotice auth={webhookAuthState(config)} />
      <Island name="LiveStats" component={LiveStats} props={{ initial }} />
      <p class="muted">
        Counters are summed over {initial.instances}{" "}
        instance(s) since each started; latencies cover the last 5 minutes.
      </p>
    </>,
  );
}
