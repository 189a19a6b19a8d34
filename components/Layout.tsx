import type { ComponentChildren } from "preact";

/** The page shell shared by every server-rendered page. */
export function Layout(props: { title: string; children: ComponentChildren }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/static/style.css" />
        <script type="module" src="/static/build/islands.js"></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
          <a class="brand" href="/">hull-browser</a>
          <nav aria-label="Site">
            <a href="/">Install</a>
            <a href="/admin">Dashboard</a>
            <a href="/healthz">Health</a>
          </nav>
        </header>
        <main class="container" id="main" tabindex={-1}>{props.children}</main>
      </body>
    </html>
  );
}
