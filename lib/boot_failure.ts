/**
 * Boot failures an operator fixes in the environment (a bad value, a store that cannot be
 * opened, an address that cannot be bound) become one line each on stderr and exit code 1,
 * never a stack trace. Anything else is a bug and keeps its stack.
 */
import { ConfigError } from "./config.ts";
import { StoreUnavailableError } from "./store/factory.ts";

/** Where the server was asked to listen, to name it in a listen failure. */
export interface ListenTarget {
  hostname: string;
  port: number;
}

/** Listen errors that a bad BIND_ADDRESS or PORT causes, with what they mean. */
const LISTEN_ERRORS: Record<string, [variable: "BIND_ADDRESS" | "PORT", meaning: string]> = {
  EADDRNOTAVAIL: ["BIND_ADDRESS", "is not an address of this machine"],
  EINVAL: ["BIND_ADDRESS", "is not an address of this machine"],
  ENOTFOUND: ["BIND_ADDRESS", "does not resolve"],
  EACCES: ["PORT", "needs privileges this process does not have (use 1024 or above)"],
  EADDRINUSE: ["PORT", "is already in use (another hull-browser?): stop it or set a free PORT"],
};

/** The operator's lines for `err`, or null when it is not a configuration problem. */
export function bootFailureMessage(err: unknown, target?: ListenTarget): string | null {
  if (err instanceof ConfigError || err instanceof StoreUnavailableError) return err.message;
  const code = (err as { code?: unknown })?.code;
  const known = typeof code === "string" ? LISTEN_ERRORS[code] : undefined;
  if (known && target) {
    const [variable, meaning] = known;
    const value = variable === "PORT" ? target.port : target.hostname;
    return `${variable}=${value} ${meaning}: cannot listen on ${target.hostname}:${target.port} ` +
      `(${code})`;
  }
  return null;
}

/** Prints `err`'s lines and exits 1 when it is a configuration problem; returns otherwise. */
export function exitOnBootFailure(err: unknown, target?: ListenTarget): void {
  const message = bootFailureMessage(err, target);
  if (message === null) return;
  console.error(message);
  Deno.exit(1);
}
