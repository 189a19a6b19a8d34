/**
 * The size rule for the connector's configuration (the settings document and the domain
 * whitelist), the same on every engine. Deno KV refuses a value over 64 KiB as it stores it
 * (V8's serialization), and a refused write used to fail every notification carrying the
 * settings, forever. So each of the two values is measured the way KV measures it and refused
 * over 60 KiB (4 KiB of margin) before anything is written, on Redis too, so a deployment
 * behaves the same whichever store it runs on. For names in plain ASCII that is about 60 KB of
 * JSON; a name holding a character beyond Latin-1 counts two bytes for each of its characters.
 */
import { serialize } from "node:v8";

/** Largest settings document, and largest domain whitelist, in bytes as Deno KV stores them. */
export const MAX_CONFIG_BYTES = 60 * 1024;

/** A settings document or whitelist over MAX_CONFIG_BYTES; nothing was written. */
export class ConfigTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigTooLargeError";
  }
}

/** Bytes `value` takes as Deno KV stores it (V8's structured serialization). */
export function storedSize(value: unknown): number {
  return serialize(value).byteLength;
}

/** Why `value` (`what`: "settings" or "domains") is too large to store, or null when it fits. */
export function configSizeRefusal(what: string, value: unknown): string | null {
  const size = storedSize(value);
  if (size <= MAX_CONFIG_BYTES) return null;
  return `${what} take ${size} bytes stored, over the limit of ${MAX_CONFIG_BYTES} bytes ` +
    "(shorten the lists)";
}

/** Throws ConfigTooLargeError when `value` is too large to store (the engines' last check). */
export function assertConfigSize(what: string, value: unknown): void {
  const refused = configSizeRefusal(what, value);
  if (refused) throw new ConfigTooLargeError(refused);
}
