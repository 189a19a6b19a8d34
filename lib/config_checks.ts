/**
 * Checks of configuration values that need more than a pattern: booleans, a PEM that must
 * really be an RSA key, a Redis URL that must parse, an address the server can bind. Each check
 * returns the problem as one line naming the variable, or null, so a bad value stops the boot
 * with that line instead of a stack trace from deep inside the server's start.
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";

/** HULL_PUBLIC_KEY (escaped newlines already read): exactly an RSA public key or certificate. */
export function checkPublicKeyPem(pem: string): string | null {
  const block = /-----BEGIN (PUBLIC KEY|CERTIFICATE)-----[\s\S]*?-----END \1-----/.exec(pem);
  if (!block) {
    return "HULL_PUBLIC_KEY must be a PEM public key (BEGIN PUBLIC KEY) or certificate " +
      "(BEGIN CERTIFICATE)";
  }
  try {
    const key = block[1] === "PUBLIC KEY"
      ? createPublicKey(block[0])
      : new X509Certificate(block[0]).publicKey;
    if (key.asymmetricKeyType !== "rsa") {
      return `HULL_PUBLIC_KEY must be an RSA key (Hull signs with RS256), got ${key.asymmetricKeyType}`;
    }
    return null;
  } catch {
    const kind = block[1] === "PUBLIC KEY" ? "public key" : "certificate";
    return `HULL_PUBLIC_KEY looks like a PEM ${kind} but cannot be read as one`;
  }
}

/** REDIS_URL: `redis://` or `rediss://` with a host. */
export function checkRedisUrl(value: string): string | null {
  if (!/^rediss?:\/\//i.test(value)) return "REDIS_URL must start with redis:// or rediss://";
  try {
    if (new URL(value).hostname) return null;
  } catch {
    // reported below
  }
  return "REDIS_URL must be a URL with a host, e.g. redis://127.0.0.1:6379";
}

/** BIND_ADDRESS: an IP address of this machine's (`0.0.0.0`, `::`, `127.0.0.1`) or localhost. */
export function checkBindAddress(value: string): string | null {
  if (value === "localhost" || isIP(value)) return null;
  return `BIND_ADDRESS must be an IP address (0.0.0.0, ::, 127.0.0.1…) or localhost, got "${value}"`;
}

const TRUE = new Set(["true", "yes", "on", "1"]);
const FALSE = new Set(["false", "no", "off", "0"]);

/**
 * A boolean setting: `true/false/1/0/yes/no/on/off` in any case; null for anything else (the
 * caller names the variable). Undefined or blank is `fallback`.
 */
export function parseBoolean(raw: string | undefined, fallback: boolean): boolean | null {
  const v = raw?.trim().toLowerCase();
  if (!v) return fallback;
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return null;
}
