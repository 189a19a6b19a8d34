import type { Context } from "hono";
import { Empty } from "../../components/admin/AdminLayout.tsx";
import { socketsPerDomain } from "../../lib/admin/cluster.ts";
import { adminPage, Csrf } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { originAllowed, parseDomainPattern } from "../../lib/domains.ts";
import { managedNote } from "../../components/admin/HullManaged.tsx";
import { loadManaged } from "../../lib/hull/settings_sync.ts";
import { configSizeRefusal } from "../../lib/store/config_size.ts";
import { scopedUrl, scopeOf } from "../../lib/admin/scope.ts";

/**
 * GET /admin/domains?connector=: the connector's whitelist with live sockets per domain. After a refused add, `typed`
 * keeps what was typed in the form; `confirmRemove` asks before removing that domain.
 */
export async function handler(
  c: Context<AppEnv>,
  error?: string,
  status = 200,
  form: { typed?: string; confirmRemove?: string } = {},
) {
  const { live, store, id } = scopeOf(c);
  const managedAt = (await loadManaged(store)).managed.domains;
  const perDomain = await socketsPerDomain(c.var.ctx.io, id);
  const rows = live.domains.map((d) => {
    let n = 0;
    for (const [host, count] of perDomain) {
      if (originAllowed(`https://${host}`, [{ ...d, port: undefined }])) n += count;
    }
    return { raw: d.raw, sockets: n };
  });
  return adminPage(
    c,
    "Domains",
    <DomainsPage c={c} rows={rows} error={error} managedAt={managedAt} {...form} />,
    status,
  );
}

/**
 * POST /admin/domains?connector=: `action=add&domain=…`, `action=ask-remove&domain=…` (asks for a
 * confirmation, whose button sends) `action=remove&domain=…`; no restart needed.
 */
export async function post(c: Context<AppEnv>) {
  const { store, live, id } = scopeOf(c);
  if ((await loadManaged(store)).managed.domains) {
    return handler(
      c,
      'The whitelist is managed in Hull: edit "Whitelisted domains" in the connector\'s settings.',
      409,
    );
  }
  const body = await c.req.parseBody();
  const domain = typeof body.domain === "string" ? body.domain.trim() : "";
  const current = (await store.getConfig()).domains;
  let next: string[];
  if (body.action === "ask-remove") return handler(c, undefined, 200, { confirmRemove: domain });
  if (body.action === "remove") {
    next = current.filter((d) => d !== domain);
  } else {
    try {
      const parsed = parseDomainPattern(domain);
      if (current.includes(parsed.raw)) {
        return handler(c, `${parsed.raw} is already whitelisted.`, 400, { typed: domain });
      }
      next = [...current, parsed.raw];
    } catch (err) {
      return handler(c, (err as Error).message, 400, { typed: domain });
    }
  }
  const tooLarge = configSizeRefusal("domains", next);
  if (tooLarge) return handler(c, `Not saved: ${tooLarge}.`, 400);
  await store.setDomains(next);
  // Applied here at once; other instances follow through the store's watch.
  live.apply({ ...(await store.getConfig()), domains: next });
  await c.var.ctx.configChanged(id);
  return c.redirect(scopedUrl(c, "/admin/domains"), 303);
}

export default function DomainsPage(
  p: {
    c: Context<AppEnv>;
    rows: { raw: string; sockets: number }[];
    error?: string;
    managedAt?: string;
    typed?: string;
    confirmRemove?: string;
  },
) {
  const managed = Boolean(p.managedAt);
  const self = scopedUrl(p.c, "/admin/domains");
  return (
    <>
      {managed && <p class="panel">Whitelisted domains {managedNote(p.managedAt)}</p>}
      <form method="post" action={self} class="row panel" hidden={managed}>
        <Csrf c={p.c} />
        <input type="hidden" name="action" value="add" />
        <input
          type="text"
          name="domain"
          value={p.typed ?? ""}
          placeholder="example.com or *.example.com"
          aria-label="domain to whitelist"
          aria-invalid={p.error ? "true" : undefined}
          aria-describedby={p.error ? "domain-error" : undefined}
          required
        />
        <button type="submit">Add domain</button>
        <span class="muted">
          <code>*.example.com</code> matches every subdomain (not <code>example.com</code>{" "}
          itself); add <code>:3000</code> to allow one port only.
        </span>
      </form>
      {p.error && <p class="error" role="alert" id="domain-error">{p.error}</p>}
      {p.confirmRemove && p.rows.some((r) => r.raw === p.confirmRemove) && (
        <form method="post" action={self} class="panel confirm" role="alertdialog">
          <Csrf c={p.c} />
          <input type="hidden" name="domain" value={p.confirmRemove} />
          <p>
            <strong>Remove {p.confirmRemove}?</strong>{" "}
            Pages on it can no longer connect; their open sockets stay until they reconnect.
          </p>
          <button type="submit" name="action" value="remove" class="danger">
            Yes, remove it
          </button>{" "}
          <a href={self} class="button secondary">Cancel</a>
        </form>
      )}
      {p.rows.length
        ? (
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th>domain</th>
                  <th>live sockets</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {p.rows.map((r) => (
                  <tr key={r.raw} data-domain={r.raw}>
                    <td>
                      <code>{r.raw}</code>
                    </td>
                    <td>{r.sockets}</td>
                    <td>
                      <form method="post" action={self} class="inline" hidden={managed}>
                        <Csrf c={p.c} />
                        <input type="hidden" name="action" value="ask-remove" />
                        <input type="hidden" name="domain" value={r.raw} />
                        <button type="submit" class="secondary" aria-label={`Remove ${r.raw}`}>
                          Remove…
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
        : (
          <Empty>
            No domain is whitelisted, so every page is refused. Add your site's domain above.
          </Empty>
        )}
    </>
  );
}
