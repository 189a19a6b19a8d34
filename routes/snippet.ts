import type { Context } from "hono";
import type { AppEnv } from "../lib/app_context.ts";

let cached: { mtime: number; body: Uint8Array<ArrayBuffer>; etag: string } | null = null;

async function load(path: string) {
  const stat = await Deno.stat(path);
  const mtime = stat.mtime?.getTime() ?? 0;
  if (cached && cached.mtime === mtime) return cached;
  const body = await Deno.readFile(path);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const etag = `"${
    Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("")
  }"`;
  cached = { mtime, body, etag };
  return cached;
}

/** GET /hull-browser.js and /ship.js: the snippet bundle, cacheable and revalidated by ETag. */
export async function handler(c: Context<AppEnv>) {
  let file;
  try {
    file = await load(c.var.ctx.snippetPath);
  } catch {
    return c.text("// hull-browser: snippet not built; run `deno task build`\n", 503, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-store",
    });
  }
  const headers = {
    "content-type": "text/javascript; charset=utf-8",
    // Short max-age so a new release reaches pages quickly; ETag makes revalidation cheap.
    "cache-control": "public, max-age=300, stale-while-revalidate=86400",
    "etag": file.etag,
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
    "x-content-type-options": "nosniff",
  };
  if (c.req.header("if-none-match") === file.etag) return c.body(null, 304, headers);
  return c.body(file.body, 200, headers);
}
