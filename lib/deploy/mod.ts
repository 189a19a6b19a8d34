/**
 * Deno Deploy concerns: the boot-time checks (the snippet bundle is built, KV_PATH is not set
 * on Deploy) and where the built files live.
 *
 * May import: config. Nothing at run time writes files or spawns processes.
 */
export { isBuilt, preflight, SNIPPET_PATH } from "./preflight.ts";
