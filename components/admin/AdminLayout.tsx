import type { ComponentChildren } from "preact";

const NAV = [
  ["/admin", "Overview"],
  ["/admin/rooms", "Rooms"],
  ["/admin/domains", "Domains"],
  ["/admin/settings", "Settings"],
  ["/admin/log", "Live log"],
  ["/admin/preview", "Preview"],
] as const;

/** The dashboard shell: navigation, logout, and the islands bundle (no inline script). */
export function AdminLayout(
  props: {
    title: string;
    path: string;
    csrf?: string;
    warning?: ComponentChildren;
    children: ComponentChildren;
  },
) {
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
              {NAV.map(([href, label]) => (
                <a
                  key={href}
                  href={href}
                  class={props.path === href ? "active" : undefined}
                  aria-current={props.path === href ? "page" : undefined}
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
        {props.warning && <div class="banner">{props.warning}</div>}
        <main class="container wide" id="main" tabindex={-1}>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
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
