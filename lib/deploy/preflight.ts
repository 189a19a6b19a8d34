/**
 * Boot-time checks for what a deployment must bring with it, printed by `main.ts` before the
 * server listens, so an operator reads the cause in the boot log instead of meeting it on the
 * first request:
 *
 * - the browser bundles (`static/build/`, git-ignored) exist only after `deno task build`; on
 *   Deno Deploy that is the build command configured in `deno.json` (`deploy.build`);
 * - on Deno Deploy, `KV_PATH` would give each isolate a private KV of its own instead of the
 *   database attached to the app (which `Deno.openKv()` without a path opens), so instances
 *   would neither share profiles nor see each other's pushes.
 *
 * Nothing here writes or spawns anything: the server needs read, net, env and sys only.
 */
import type { Config } from "../config.ts";

const ROOT = new URL("../../", import.meta.url);

/** Absolute path of the snippet bundle that `GET /hull-browser.js` serves. */
export const SNIPPET_PATH = new URL("static/build/hull-browser.js", ROOT).pathname;
/** Absolute path of the admin islands bundle (`/static/build/islands.js`). */
export const ISLANDS_PATH = new URL("static/build/islands.js", ROOT).pathname;

/** The command that produces both bundles (also Deno Deploy's build command). */
export const BUILD_COMMAND = "deno task build";

/** Paths checked by {@link preflight}; tests point them elsewhere. */
export interface PreflightPaths {
  snippet: string;
  islands: string;
}

/** True when `path` is a readable regular file. */
export async function isBuilt(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Returns one line per problem found (empty when the instance is ready to serve). The caller
 * prints them; none of them stops the boot, since `/healthz` and webhooks still work and an
 * operator needs a running instance to read its logs.
 */
export async function preflight(
  config: Config,
  env: Record<string, string | undefined>,
  paths: PreflightPaths = { snippet: SNIPPET_PATH, islands: ISLANDS_PATH },
): Promise<string[]> {
  const lines: string[] = [];
  const missing = [];
  for (const path of [paths.snippet, paths.islands]) {
    if (!(await isBuilt(path))) missing.push(relative(path));
  }
  if (missing.length) {
    lines.push(
      `snippet not built: ${missing.join(" and ")} missing, so GET /hull-browser.js answers 503 ` +
        `and the dashboard has no live parts; run \`${BUILD_COMMAND}\` before starting ` +
        `(on Deno Deploy it is the build command, set in deno.json "deploy.build")`,
    );
  }
  if (onDeploy(env) && config.kvPath !== undefined && !config.redisUrl) {
    lines.push(
      `KV_PATH is set on Deno Deploy: this isolate uses its own KV at "${config.kvPath}", not ` +
        "the database attached to the app, so instances share nothing; unset KV_PATH",
    );
  }
  return lines;
}

/** True when the environment says we run on Deno Deploy. */
export function onDeploy(env: Record<string, string | undefined>): boolean {
  return Boolean(env.DENO_DEPLOY || env.DENO_DEPLOYMENT_ID);
}

function relative(path: string): string {
  return path.startsWith(ROOT.pathname) ? path.slice(ROOT.pathname.length) : path;
}
