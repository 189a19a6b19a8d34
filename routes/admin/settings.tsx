import type { Context } from "hono";
import { load, type SeenDoc } from "../../lib/webhook/seen.ts";
import { adminPage, Csrf } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";

import { versionedPayload } from "../../lib/payload.ts";
import { IDENTITY_MODES, type Settings } from "../../lib/types.ts";
import { readSettingsForm } from "../../lib/admin/settings_form.ts";
import { configSizeRefusal } from "../../lib/store/config_size.ts";
import { HullPanel, managedNote } from "../../components/admin/HullManaged.tsx";
import type { BindingPolicy } from "../../lib/hull/connector_binding.ts";
import type { ConnectionInfo } from "../../lib/hull/credentials.ts";
import { loadManaged, type ManagedDoc } from "../../lib/hull/settings_sync.ts";
import { scopedUrl, scopeOf } from "../../lib/admin/scope.ts";
import { STANDALONE_ID } from "../../lib/connector/directory.ts";
import { removalPath } from "../../components/admin/ConnectorTable.tsx";

const LISTS = [
  [
    "public_traits",
    "Public traits",
    "Hull attribute names sent to pages: email, traits_plan, clearbit/name, account.name",
    "attributes",
  ],
  ["public_segments", "Public segments", "User segment ids whose names are sent", "segments"],
  [
    "public_account_segments",
    "Public account segments",
    "Account segment ids whose names are sent",
    "account_segments",
  ],
  [
    "user_filter_segments",
    "User filter segments",
    "If set, users in none of these segments are never sent",
    "segments",
  ],
  [
    "anonymous_traits",
    "Anonymous-safe traits",
    "All an unverified socket receives when verified identities are required",
    "attributes",
  ],
  [
    "anonymous_segments",
    "Anonymous-safe segments",
    "Segment ids whose names unverified sockets receive",
    "segments",
  ],
  [
    "anonymous_account_segments",
    "Anonymous-safe account segments",
    "Account segment ids for unverified sockets",
    "account_segments",
  ],
] as const;

/**
 * GET /admin/settings?connector=: what leaves the server for that connector, with suggestions
 * from its recent notifications. After a refused save, `errors` say why and `submitted` (what
 * was sent) fills the form, so no edit is lost.
 */
export async function handler(
  c: Context<AppEnv>,
  errors: string[] = [],
  submitted?: Settings,
) {
  const { config } = c.var.ctx;
  const { store, live, services: hull } = scopeOf(c);
  const seen = await load(store);
  const managed = await loadManaged(store);
  const connection = await hull.credentials.info();
  let example: { full: unknown; anonymous: unknown } | null = null;
  if (seen.recent_user) {
    const profile = await store.getProfile(seen.recent_user);
    if (profile) {
      example = {
        full: versionedPayload(profile, live.settings, "full"),
        anonymous: versionedPayload(profile, live.settings, "anonymous"),
      };
    }
  }
  return adminPage(
    c,
    "Settings",
    <SettingsPage
      c={c}
      settings={submitted ?? live.settings}
      seen={seen}
      example={example}
      errors={errors}
      managed={managed}
      connection={connection}
      policy={hull.integration.policy}
      identitySecret={config.identitySecret !== null}
    />,
    errors.length ? 400 : 200,
  );
}

/**
 * POST /admin/settings?connector=: saves every list and the identity mode of that connector;
 * applies on every instance.
 */
export async function post(c: Context<AppEnv>) {
  const { config } = c.var.ctx;
  const scope = scopeOf(c);
  const { store, live } = scope;
  const body = await c.req.parseBody();
  // The single binding's release of earlier releases: a Hull connector is removed instead,
  // with all its data, after a confirmation; the standalone connector has nothing to release.
  if (body.action === "ask_forget_hull" || body.action === "forget_hull") {
    return c.redirect(
      scope.id === STANDALONE_ID ? scopedUrl(c, "/admin/settings") : removalPath(scope.id),
      303,
    );
  }
  const { managed } = await loadManaged(store);
  const form = readSettingsForm(body, live.settings, managed, config.identitySecret !== null);
  if (form.errors.length) return handler(c, form.errors, form.settings);
  const next = form.settings;
  // The store's size rule (config_size.ts), said here rather than failing the write.
  const tooLarge = configSizeRefusal("settings", next);
  if (tooLarge) return handler(c, [`Not saved: ${tooLarge}.`], next);
  await store.setSettings(next);
  live.apply({ ...(await store.getConfig()), settings: next });
  await c.var.ctx.configChanged(scope.id);
  return c.redirect(scopedUrl(c, "/admin/settings", { saved: "1" }), 303);
}

export default function SettingsPage(
  p: {
    c: Context<AppEnv>;
    settings: Settings;
    seen: SeenDoc;
    example: { full: unknown; anonymous: unknown } | null;
    errors: string[];
    managed: ManagedDoc;
    connection: ConnectionInfo | null;
    policy: BindingPolicy;
    identitySecret: boolean;
  },
) {
  const m = p.managed.managed;
  const saved = p.c.req.query("saved");
  const names = new Map(
    [...p.seen.segments, ...p.seen.account_segments].map((s) => [s.id, s.name]),
  );
  return (
    <>
      {saved && <p class="ok" role="status">Saved. Every instance applies it within a second.</p>}
      {p.errors.length > 0 && (
        <div class="error" role="alert" id="settings-errors">
          <p>Nothing was saved: {p.errors.length === 1 ? p.errors[0] : ""}</p>
          {p.errors.length > 1 && <ul>{p.errors.map((e) => <li key={e}>{e}</li>)}</ul>}
          <p>Your edits are kept below.</p>
        </div>
      )}
      <HullPanel
        connectorId={scopeOf(p.c).id}
        removeHref={removalPath(scopeOf(p.c).id)}
        managed={p.managed}
        connection={p.connection}
        policy={p.policy}
      />
      <form method="post" action={scopedUrl(p.c, "/admin/settings")} class="stack panel">
        <Csrf c={p.c} />
        <label for="identity_mode">
          Identity verification <span class="hint">off · report (serve and log) · required</span>
          {managedNote(m.identity_mode)}
        </label>
        <select id="identity_mode" name="identity_mode" disabled={Boolean(m.identity_mode)}>
          {IDENTITY_MODES.map((m) => (
            <option
              key={m}
              value={m}
              selected={(p.settings.identity_mode ?? "off") === m}
              disabled={m !== "off" && !p.identitySecret &&
                (p.settings.identity_mode ?? "off") !== m}
            >
              {m !== "off" && !p.identitySecret ? `${m} (needs IDENTITY_SECRET)` : m}
            </option>
          ))}
        </select>
        {!p.identitySecret && (
          <p class="hint muted">
            Set <code>IDENTITY_SECRET</code>{" "}
            on the server (at least 16 characters, shared with your backend, which signs visitors'
            identifiers) to verify identities.
          </p>
        )}
        {LISTS.map(([key, label, hint, source]) => (
          <div key={key}>
            <label for={key}>
              {label} <span class="hint">{hint}; one per line or comma-separated</span>
              {managedNote(m[key])}
            </label>
            <textarea id={key} name={key} data-source={source} readOnly={Boolean(m[key])}>
              {(p.settings[key] ?? []).join("\n")}
            </textarea>
          </div>
        ))}
        <p>
          <button type="submit">Save settings</button>
        </p>
      </form>
      <div class="panel">
        <strong>Seen in recent notifications</strong>
        {p.seen.attributes.length || names.size
          ? (
            <>
              <p class="muted">
                Attributes: {p.seen.attributes.map((a) => <code key={a} class="pill">{a}</code>)}
              </p>
              <p class="muted">
                Segments:{" "}
                {[...names].map(([id, name]) => <code key={id} class="pill">{id} · {name}</code>)}
              </p>
            </>
          )
          : <p class="muted">Nothing yet: names appear here once Hull sends a user update.</p>}
      </div>
      <div class="panel">
        <strong>Example payload for a recent user</strong>
        {p.example
          ? (
            <>
              <p class="muted">
                What a verified (or, unless required, any) visitor's page receives:
              </p>
              <pre class="json"><code>{JSON.stringify(p.example.full, null, 2)}</code></pre>
              <p class="muted">
                What an anonymous or unverified visitor receives when identities are required:
              </p>
              <pre class="json"><code>{JSON.stringify(p.example.anonymous, null, 2)}</code></pre>
            </>
          )
          : <p class="muted">No user update received yet.</p>}
      </div>
    </>
  );
}
