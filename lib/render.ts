/**
 * Server-side rendering of route pages with Preact: a full HTML document with the headers
 * every page gets.
 */
import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";

/** Renders `page` to a complete HTML document response. */
export function renderPage(page: VNode, status = 200): Response {
  return new Response("<!DOCTYPE html>" + renderToString(page), {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "x-content-type-options": "nosniff",
      "referrer-policy": "strict-origin-when-cross-origin",
      "content-security-policy":
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    },
  });
}
