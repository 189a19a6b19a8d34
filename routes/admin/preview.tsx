import type { Context } from "hono";
import { adminPage, Csrf } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { anonymousRoom, normalizeIdentifier, userIdentifiers } from "../../lib/identity.ts";
import { processNotification } from "../../lib/webhook/notifications.ts";
import { versionedPayload } from "../../lib/payload.ts";
import { CLAIM_TYPES, type ClaimType } from "../../lib/types.ts";
import type { StoredProfile } from "../../lib/store/store.ts";

async function resolve(c: Context<AppEnv>, type: ClaimType, value: string) {
  const { webhook } = c.var.ctx;
  const key = await webhook.hasher.hash({ type, value: normalizeIdentifier(type, value) });
  const userId = await webhook.store.lookupUserId([key]);
  return userId ? await webhook.store.getProfile(userId) : null;
}

function readQuery(src: Record<string, unknown>) {
  const type = (CLAIM_TYPES as readonly string[]).includes(String(src.type))
    ? src.type as ClaimType
    : "email";
  const value = typeof src.value === "string" ? src.value.trim().slice(0, 256) : "";
  return { type, value };
}

/** GET /admin/preview?type=&value=: the exact payload that visitor's page would receive. */
export async function handler(c: Context<AppEnv>, notice?: string) {
  const { type, value } = readQuery(c.req.query());
  const profile = value ? await resolve(c, type, value) : null;
  return adminPage(
    c,
    "Preview",
    <PreviewPage c={c} type={type} value={value} profile={profile} notice={notice} />,
  );
}

/** POST /admin/preview: `action=push` re-sends the stored profile; `action=delete` forgets it. */
export async function post(c: Context<AppEnv>) {
  const body = await c.req.parseBody();
  const { type, value } = readQuery(body);
  const profile = value ? await resolve(c, type, value) : null;
  if (!profile) return handler(c, "No profile for this identifier.");
  const { webhook, live } = c.var.ctx;
  if (body.action === "delete") {
    await processNotification(
      {
        notification_id: `admin-${crypto.randomUUID()}`,
        channel: "user:delete",
        messages: [{ user: profile.user }],
      },
      webhook,
    );
    return handler(c, "Profile deleted; its live sockets were told to forget it.");
  }
  // A test update: the stored profile, pushed to every room of the user on every instance.
  const ids = userIdentifiers(profile.user);
  const rooms = await webhook.hasher.hashAll(ids);
  webhook.publish([
    { rooms, event: "user.update", payload: versionedPayload(profile, live.settings, "full") },
    {
      rooms: rooms.map(anonymousRoom),
      event: "user.update",
      payload: versionedPayload(profile, live.settings, "anonymous"),
    },
  ]);
  return handler(c, "Test update pushed to this visitor's live sockets.");
}

export default function PreviewPage(
  p: {
    c: Context<AppEnv>;
    type: ClaimType;
    value: string;
    profile: StoredProfile | null;
    notice?: string;
  },
) {
  const settings = p.c.var.ctx.live.settings;
  return (
    <>
      <form method="get" action="/admin/preview" class="row panel">
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
            <form method="post" action="/admin/preview" class="inline">
              <Csrf c={p.c} />
              <input type="hidden" name="type" value={p.type} />
              <input type="hidden" name="value" value={p.value} />
              <button type="submit" name="action" value="push">Push a test update</button>
            </form>
            <form method="post" action="/admin/preview" class="inline">
              <Csrf c={p.c} />
              <input type="hidden" name="type" value={p.type} />
              <input type="hidden" name="value" value={p.value} />
              <button type="submit" name="action" value="delete" class="danger">
                Delete this profile
              </button>
            </form>
          </div>
        </>
      )}
    </>
  );
}
