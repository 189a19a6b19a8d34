import type { Context } from "hono";
import { Empty } from "../../components/admin/AdminLayout.tsx";
import { listRooms, type RoomRow } from "../../lib/admin/cluster.ts";
import { adminPage, ScopeField, since } from "../../lib/admin/page.tsx";
import type { AppEnv } from "../../lib/app_context.ts";
import { normalizeIdentifier } from "../../lib/identity.ts";
import { CLAIM_TYPES } from "../../lib/types.ts";
import { scopedPath, scopeOf } from "../../lib/admin/scope.ts";

export const PAGE_SIZE = 50;

/**
 * GET /admin/rooms?connector=&q=&page=: identifier rooms of the connector's namespace across
 * instances. A search is hashed the way
 * room names are, for every identifier type and tier, so a full email finds its room while
 * the server never lists raw values.
 */
export async function handler(c: Context<AppEnv>) {
  const { io, webhook } = c.var.ctx;
  const connector = scopeOf(c);
  const q = (c.req.query("q") ?? "").trim().slice(0, 256);
  const page = Math.max(1, Number(c.req.query("page")) || 1);
  let only: string[] | undefined;
  if (q) {
    only = [];
    for (const type of CLAIM_TYPES) {
      const id = { type, value: normalizeIdentifier(type, q) };
      only.push(await webhook.hasher.hash(id), await webhook.hasher.hash(id, "anonymous"));
    }
  }
  const rows = await listRooms(io, connector.id, only);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const shown = rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  return adminPage(
    c,
    "Rooms",
    <RoomsPage
      connectorId={connector.id}
      q={q}
      rows={shown}
      total={rows.length}
      page={page}
      pages={pages}
    />,
  );
}

export default function RoomsPage(
  p: {
    connectorId: string;
    q: string;
    rows: RoomRow[];
    total: number;
    page: number;
    pages: number;
  },
) {
  const link = (n: number) =>
    scopedPath(p.connectorId, "/admin/rooms", { page: String(n), ...(p.q ? { q: p.q } : {}) });
  return (
    <>
      <form method="get" action="/admin/rooms" class="row panel">
        <ScopeField connectorId={p.connectorId} />
        <input
          type="search"
          name="q"
          value={p.q}
          placeholder="email, user id, external id or anonymous id"
          aria-label="identifier"
        />
        <button type="submit">Find</button>
        {p.q && <a href={scopedPath(p.connectorId, "/admin/rooms")}>Clear</a>}
        <span class="muted">{p.total.toLocaleString("en-US")} room(s)</span>
      </form>
      {p.rows.length
        ? (
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th>type</th>
                  <th>identifier</th>
                  <th>sockets</th>
                  <th>domain</th>
                  <th>instance</th>
                  <th>connected since</th>
                </tr>
              </thead>
              <tbody>
                {p.rows.map((r) => (
                  <tr key={r.room} data-room>
                    <td>{r.type}</td>
                    <td>
                      <code>{r.masked}</code>
                    </td>
                    <td>{r.sockets}</td>
                    <td>{r.domains.join(", ")}</td>
                    <td>{r.instances.join(", ")}</td>
                    <td>{since(r.since)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
        : (
          <Empty>
            {p.q
              ? "No connected visitor has this identifier. Check the spelling, or that the visitor's page is open."
              : "No identified visitor is connected. Rooms appear when a page with the tag identifies its visitor."}
          </Empty>
        )}
      {p.pages > 1 && (
        <div class="pager">
          {p.page > 1 && <a href={link(p.page - 1)}>← Newer</a>}
          <span>Page {p.page} of {p.pages}</span>
          {p.page < p.pages && <a href={link(p.page + 1)}>Older →</a>}
        </div>
      )}
    </>
  );
}
