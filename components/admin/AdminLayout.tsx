import type { ComponentChildren } from "preact";
import { STANDALONE_ID } from "../../lib/connector/directory.ts";
import { scopedPath } from "../../lib/admin/scope.ts";

/** Pages scoped to one connector (their links keep `?connector=`). */
const NAV = [
  ["/admin", "Overview"],
  ["/admin/rooms", "Rooms"],
  ["/admin/domains", "Domains"],
  ["/admin/settings", "Settings"],
  ["/admin/log", "Live log"],
  ["/admin/preview", "Preview"],
] as const;

/** The connector a page is scoped to, and the others it may switch to. */
export interface LayoutScope {
  /** The connector in scope (STANDALONE_ID for the standalone one). */
  id: string;
  /** The registered Hull connectors' ids. */
  ids: string[];
}

/** How the selector names a connector. */
export const connectorLabel = (id: string) =>
  id === STANDALONE_ID ? "standalone (default)" : `Hull ${id}`;

/**
 * The dashboard shell: navigation (scoped to the connector of `scope`), the connector
 * selector, logout, and the islands bundle (no inline script).
 */
export function AdminLayout(
  props: {
    title: string;
    path: string;
    csrf?: string;
    warning?: ComponentChildren;
    scope?: LayoutScope;
    children: ComponentChildren;
  },
) {
  const scopeId = props.scope?.id ?? STANDALONE_ID;
  const nav: [string, string, string][] = [
    ...NAV.map(([path, label]): [string, string, string] => [
      path,
      scopedPath(scopeId, path),
      label,
    ]),
    ["/admin/connectors", "/admin/connectors", "Connectors"],
  ];
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · hull-browser`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/static/style.css" />
        <link rel="stylesheet" href="/static/admin.css" />
        <script type="module" src="/static/build/islands.js"></script>
      </head>
      <body class="admin">
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
          <a class="brand" href="/admin">hull-browser</a>
          {props.csrf !== undefined && (
            <nav aria-label="Dashboard">
              {nav.map(([path, href, label]) => (
                <a
                  key={path}
                  href={href}
                  class={props.path === path ? "active" : undefined}
                  aria-current={props.path === path ? "page" : undefined}
                >
                  {label}
                </a>
              ))}
              <form method="post" action="/admin/logout" class="inline">
                <input type="hidden" name="_csrf" value={props.csrf} />
                <button type="submit" class="link">Log out</button>
              </form>
            </nav>
          )}
        </header>
        {props.scope && <ScopeSelector path={props.path} scope={props.scope} />}
        {props.warning && <div class="banner">{props.warning}</div>}
        <main
          class="container wide"
          id="main"
          tabindex={-1}
          data-connector={props.scope?.id}
        >
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Which connector the page shows, and a plain GET form to show another (no script). */
function ScopeSelector(p: { path: string; scope: LayoutScope }) {
  return (
    <form method="get" action={p.path} class="row scope" aria-label="Connector in scope">
      <label for="connector-scope">Connector</label>
      <select id="connector-scope" name="connector">
        {[STANDALONE_ID, ...p.scope.ids].map((id) => (
          <option key={id} value={id} selected={id === p.scope.id}>{connectorLabel(id)}</option>
        ))}
      </select>
      <button type="submit" class="secondary">Show</button>
      <a href="/admin/connectors">All connectors</a>
    </form>
  );
}

/** Server-renders an island and marks it for hydration by `islands/mount.ts`. */
export function Island<P extends Record<string, unknown>>(
  props: { name: string; component: (p: P) => preact.JSX.Element; props: P },
) {
  const C = props.component;
  return (
    <div data-island={props.name} data-props={JSON.stringify(props.props)}>
      <C {...props.props} />
    </div>
  );
}

/** An empty state that says what to do. */
export function Empty(props: { children: ComponentChildren }) {
  return <div class="empty">{props.children}</div>;
}
