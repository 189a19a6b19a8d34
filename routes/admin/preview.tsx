import type { Context } from "hono";
import { adminPage, Csrf, ScopeField } from "../../lib/admin/page.tsx";
import { connectorSocketData } from "../../lib/admin/cluster.ts";
import { processorDepsFor, scopedUrl, scopeOf } from "../../lib/admin/scope.ts";
import type { AppEnv } from "../../lib/app_context.ts";
import { normalizeIdentifier } from "../../lib/identity.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import { pushTestUpdate } from "../../lib/admin/test_push.ts";
import { versionedPayload } from "../../lib/payload.ts";
import { CLAIM_TYPES, type ClaimType } from "../../lib/types.ts";
import type { StoredProfile } from "../../lib/store/store.ts";

/** The profile of an identifier in the store of the connector in scope. */
async function resolve(c: Context<AppEnv>, type: ClaimType, value: string) {
  const { webhook } = c.var.ctx;
  const { store } = scopeOf(c);
  const key = await webhook.hasher.hash({ type, value: normalizeIdentifier(type, value) });
  const userId = await store.lookupUserId([key]);
  return userId ? await store.getProfile(userId) : null;
}

function readQuery(src: Record<string, unknown>) {
  const type = (CLAIM_TYPES as readonly string[]).includes(String(src.type))
    ? src.type as ClaimType
    : "email";
  const value = typeof src.value === "string" ? src.value.trim().slice(0, 256) : "";
  return { type, value };
}

/**
 * GET /admin/preview?connector=&type=&value=: the payload that visitor's page of that connector
 * would receive.
 */
export async function handler(
  c: Context<AppEnv>,
  notice?: string,
  query: { type: ClaimType; value: string } = readQuery(c.req.query()),
  confirmDelete = false,
) {
  const { type, value } = query;
  const profile = value ? await resolve(c, type, value) : null;
  return adminPage(
    c,
    "Preview",
    <PreviewPage
      c={c}
      type={type}
      value={value}
      profile={profile}
      notice={notice}
      confirmDelete={confirmDelete && profile !== null}
    />,
  );
}

/**
 * POST /admin/preview: `action=push` re-sends the stored profile as a test update;
 * `action=ask-delete` asks for a confirmation, whose button sends `action=delete`: forgets it.
 */
export async function post(c: Context<AppEnv>) {
  const body = await c.req.parseBody();
  const query = readQuery(body);
  const { type, value } = query;
  const profile = value ? await resolve(c, type, value) : null;
  if (!profile) return handler(c, "No profile for this identifier.", query);
  const { ctx } = c.var;
  const connector = scopeOf(c);
  const deps = processorDepsFor(ctx, connector);
  if (body.action === "ask-delete") return handler(c, undefined, query, true);
  if (body.action === "delete") {
    await processNotification(
      {
        notification_id: `admin-${crypto.randomUUID()}`,
        channel: "user:delete",
        messages: [{ user: profile.user }],
      },
      deps,
    );
    return handler(c, "Profile deleted; its live sockets were told to forget it.", query);
  }
  const sockets = await pushTestUpdate(
    {
      countSockets: async (rooms) =>
        (await connectorSocketData(ctx.io, connector.id, rooms)).length,
      hasher: deps.hasher,
      publish: deps.publish,
      events: connector.events,
      settings: connector.live.settings,
    },
    profile,
  );
  return handler(
    c,
    sockets
      ? `Test update sent to ${sockets} live socket${sockets === 1 ? "" : "s"} of this visitor ` +
        `(marked "test": true; pages fire their handler even if nothing changed).`
      : "No live socket of this visitor is connected: nobody received the test update.",
    query,
  );
}

export default function PreviewPage(
  p: {
    c: Context<AppEnv>;
    type: ClaimType;
    value: string;
    profile: StoredProfile | null;
    notice?: string;
    confirmDelete?: boolean;
  },
) {
  const connector = scopeOf(p.c);
  const settings = connector.live.settings;
  // Forms post to the URL of this identifier, so the page after a push or a reload keeps it.
  const target = scopedUrl(p.c, "/admin/preview", p.value ? { type: p.type, value: p.value } : {});
  return (
    <>
      <form method="get" action="/admin/preview" class="row panel">
        <ScopeField connectorId={connector.id} />
        <select name="type" aria-label="identifier type">
          {CLAIM_TYPES.map((t) => <option key={t} value={t} selected={t === p.type}>{t}</option>)}
        </select>
        <input
          type="search"
          name="value"
          value={p.value}
          placeholder="ada@example.com"
          aria-label="identifier"
          required
        />
        <button type="submit">Preview</button>
      </form>
      {p.notice && <p class="ok" role="status">{p.notice}</p>}
      {p.value && !p.profile && (
        <div class="empty">
          No profile is stored for this{" "}
          {p.type}. The visitor would stay connected and receive the first update Hull sends.
        </div>
      )}
      {p.profile && (
        <>
          <div class="panel">
            <strong>Verified visitor (or any visitor unless identities are required)</strong>
            <pre
              class="json"
              data-payload="full"
            ><code>{JSON.stringify(versionedPayload(p.profile, settings, "full") ?? "not sent: the user is in none of the filter segments", null, 2)}</code></pre>
            <strong>Anonymous or unverified visitor</strong>
            <pre class="json"><code>{JSON.stringify(versionedPayload(p.profile, settings, "anonymous"), null, 2)}</code></pre>
          </div>
          <div class="row">
            <form method="post" action={target} class="inline">
              <Csrf c={p.c} />
              <input type="hidden" name="type" value={p.type} />
              <input type="hidden" name="value" value={p.value} />
              <button type="submit" name="action" value="push">Push a test update</button>
            </form>
            {!p.confirmDelete && (
              <form method="post" action={target} class="inline">
                <Csrf c={p.c} />
                <input type="hidden" name="type" value={p.type} />
                <input type="hidden" name="value" value={p.value} />
                <button type="submit" name="action" value="ask-delete" class="danger">
                  Delete this profile…
                </button>
              </form>
            )}
          </div>
          {p.confirmDelete && (
            <form method="post" action={target} class="panel confirm" role="alertdialog">
              <Csrf c={p.c} />
              <input type="hidden" name="type" value={p.type} />
              <input type="hidden" name="value" value={p.value} />
              <p>
                <strong>Delete this profile for good?</strong>{" "}
                Its stored traits and identifiers are erased and its live pages are told to forget
                it. Hull keeps its own copy.
              </p>
              <button type="submit" name="action" value="delete" class="danger">
                Yes, delete it
              </button>{" "}
              <a href={target} class="button secondary">Cancel</a>
            </form>
          )}
        </>
      )}
    </>
  );
}
