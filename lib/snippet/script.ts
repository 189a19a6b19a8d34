/**
 * The connector's `script` setting ("Code to be run every time user is updated", the original
 * connector's main usage): run on each update with `(user, segments, account, account_segments,
 * events, changes)`, as the original did, but only when the page's own tag opts in with
 * `data-allow-script`, so a Hull setting alone can never put code on a site. Without the opt-in
 * (or when the page's Content-Security-Policy forbids eval) the console says once why it did not
 * run; `data-hull-*` attributes (personalize.ts) personalize without code.
 */
import { rethrow } from "./emitter.ts";

/** The parameters the code sees, in the original's order. */
export const SCRIPT_PARAMS = [
  "user",
  "segments",
  "account",
  "account_segments",
  "events",
  "changes",
] as const;

/** Said once when a script is set and the tag has no `data-allow-script`. */
export const NOT_ALLOWED = "[hull-browser] the connector's script setting was not run: the " +
  "page's tag has no data-allow-script (add it to run that code here, or personalize with " +
  "data-hull-* attributes)";

/** Said once when the page's CSP forbids compiling the code. */
export const CSP_BLOCKED = "[hull-browser] the connector's script setting was not run: the " +
  "page's Content-Security-Policy forbids eval ('unsafe-eval'); personalize with data-hull-* " +
  "attributes instead";

/** A runner: `run(code, detail)` for each update. */
export function createScriptRunner(
  allowed: boolean,
  warn: (message: string) => void,
): (code: string, detail: Record<string, unknown>) => void {
  let compiled: { code: string; fn: (...args: unknown[]) => void } | undefined;
  return (code, detail) => {
    if (!code.trim()) return;
    if (!allowed) return warn(NOT_ALLOWED);
    try {
      if (compiled?.code !== code) {
        // The opt-in is the point of this module: the page's own tag asked for this.
        compiled = { code, fn: new Function(...SCRIPT_PARAMS, code) as () => void };
      }
    } catch (error) {
      // EvalError: a CSP without 'unsafe-eval'; SyntaxError: broken code, shown as an error.
      if (error instanceof EvalError) return warn(CSP_BLOCKED);
      return rethrow(error);
    }
    try {
      compiled.fn(...SCRIPT_PARAMS.map((name) => detail[name]));
    } catch (error) {
      rethrow(error);
    }
  };
}
