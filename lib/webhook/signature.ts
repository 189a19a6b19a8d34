/**
 * Webhook authentication (docs/contracts.md §3): our own HMAC header
 * `X-Hull-Browser-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 * and Hull's RS256 smart-notifier JWT checked against a pinned public key. Pure crypto: no
 * I/O, never fetches a key. Failure reasons are short, safe to log and to send back: they
 * never contain a secret or an expected signature.
 */
import { createHmac } from "node:crypto";
import { importSPKI, importX509, jwtVerify } from "jose";

/** Verification outcome; `reason` says what was wrong, in words an operator can act on. */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** More v1 values than this is not rotation but someone fishing; refuse the header. */
const MAX_SIGNATURES = 8;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

const encoder = new TextEncoder();

/**
 * HMAC-SHA256 of `"<t>." + raw body`, byte for byte (the body is never re-encoded). Synchronous
 * `node:crypto` (the same bytes as WebCrypto): a webhook is verified in the turn it arrives,
 * without a hop to WebCrypto's thread pool and back, nor a copy of the body.
 */
function hmac(secret: string, t: number | string, rawBody: string | Uint8Array): Uint8Array {
  return createHmac("sha256", encoder.encode(secret)).update(`${t}.`).update(rawBody).digest();
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Compares equal-length byte arrays in time independent of where they differ. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Signs `rawBody` for the `X-Hull-Browser-Signature` header at time `t` (unix seconds).
 * Returns the header value `t=<t>,v1=<hex>`.
 */
export function signHmac(
  secret: string,
  rawBody: string | Uint8Array,
  t: number = Math.floor(Date.now() / 1000),
): string {
  return `t=${t},v1=${toHex(hmac(secret, t, rawBody))}`;
}

/** Parses `t=…,v1=…[,v1=…]`; unknown keys (e.g. a future `v2`) are ignored. */
function parseHeader(header: string): { t: string; v1: string[] } | string {
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return "signature header is malformed: expected t=<seconds>,v1=<hex>";
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (t !== undefined) return "signature header has more than one t=";
      t = value;
    } else if (key === "v1") {
      v1.push(value);
    }
  }
  if (t === undefined) return "signature header has no t=<unix seconds>";
  if (!v1.length) return "signature header has no v1= signature";
  return { t, v1 };
}

/**
 * Verifies an `X-Hull-Browser-Signature` header over the exact request bytes. Any configured
 * secret matching any `v1=` value is accepted, so both sides can rotate secrets without
 * downtime. The timestamp must be within `toleranceSeconds` of `nowSeconds` either way.
 */
export function verifyHmacSignature(
  header: string | null | undefined,
  rawBody: Uint8Array,
  secrets: string[],
  nowSeconds: number = Math.floor(Date.now() / 1000),
  toleranceSeconds = 300,
): VerifyResult {
  const usable = secrets.filter((s) => typeof s === "string" && s.length > 0);
  if (!usable.length) return { ok: false, reason: "no webhook secret is configured" };
  if (!header || !header.trim()) return { ok: false, reason: "signature header is missing" };
  if (header.length > 2048) return { ok: false, reason: "signature header is too long" };

  const parsed = parseHeader(header);
  if (typeof parsed === "string") return { ok: false, reason: parsed };
  if (!/^\d{1,12}$/.test(parsed.t)) {
    return { ok: false, reason: "signature timestamp t= is not a number of seconds" };
  }
  if (parsed.v1.length > MAX_SIGNATURES) {
    return { ok: false, reason: `signature header has more than ${MAX_SIGNATURES} v1= values` };
  }
  const candidates = parsed.v1.filter((v) => HEX_SHA256.test(v)).map(fromHex);
  if (!candidates.length) {
    return { ok: false, reason: "signature v1= must be 64 hex characters (HMAC-SHA256)" };
  }

  // Freshness before crypto: a stale request is rejected whatever its signature.
  const skew = Math.abs(nowSeconds - Number(parsed.t));
  if (skew > toleranceSeconds) {
    return {
      ok: false,
      reason:
        `signature timestamp is ${skew} s away from server time (limit ${toleranceSeconds} s)`,
    };
  }

  let match = false;
  // Every pair is compared (no early exit) so timing does not tell which secret is live.
  for (const secret of usable) {
    const expected = hmac(secret, parsed.t, rawBody);
    for (const candidate of candidates) {
      if (constantTimeEqual(expected, candidate)) match = true;
    }
  }
  return match ? { ok: true } : {
    ok: false,
    reason: "signature does not match the body (wrong secret, or the body was changed)",
  };
}

/**
 * Imports Hull's public key for RS256 verification from an SPKI PEM (`BEGIN PUBLIC KEY`) or
 * an X.509 certificate PEM (`BEGIN CERTIFICATE`). Literal `\n` sequences (common when a PEM
 * is pasted into an environment variable) are read as newlines: for HULL_PUBLIC_KEY only; a
 * fetched key must be exactly one PEM first (key_fetcher.ts).
 * @throws Error saying what was expected when the text is neither, or cannot be read.
 */
export async function importHullPublicKey(pem: string): Promise<CryptoKey> {
  const text = String(pem ?? "").replace(/\\n/g, "\n").trim();
  const block = /-----BEGIN (PUBLIC KEY|CERTIFICATE)-----[\s\S]*?-----END \1-----/.exec(text);
  if (!block) {
    throw new Error(
      "Hull public key must be a PEM public key (BEGIN PUBLIC KEY) or certificate (BEGIN CERTIFICATE)",
    );
  }
  try {
    return block[1] === "PUBLIC KEY"
      ? await importSPKI(block[0], "RS256")
      : await importX509(block[0], "RS256");
  } catch (err) {
    const kind = block[1] === "PUBLIC KEY" ? "public key" : "certificate";
    throw new Error(
      `Hull ${kind} PEM could not be read as an RSA key: ${(err as Error).message}`,
    );
  }
}

/** Maps jose error codes to reasons; anything else is reported as an invalid token. */
const JWT_REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: "token has expired",
  ERR_JOSE_ALG_NOT_ALLOWED: "token algorithm is not allowed (RS256 only)",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "token signature does not match the configured key",
  ERR_JWS_INVALID: "token is malformed",
  ERR_JWT_INVALID: "token is malformed",
  ERR_JWT_CLAIM_VALIDATION_FAILED: "token claims are not valid",
};

/** Oldest `iat` accepted by default: a day, as long as notification ids are remembered. */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 24 * 3600;

/** How a Hull token's age is judged. */
export interface TokenAgeOptions {
  /** Now, in unix seconds (default: the clock). */
  nowSeconds?: number;
  /** Oldest accepted `iat`, in seconds before now (the webhook passes its replay window). */
  maxAgeSeconds?: number;
  /** Clock skew allowed on `exp`, `nbf` and a future `iat` (default 60 s). */
  toleranceSeconds?: number;
}

let warnedAgeless = false;

/**
 * Verifies Hull's `X-Hull-Smart-Notifier-Signature` JWT: RS256 only, against the pinned
 * `key` (never a key named by the request), and its `jti` must equal `notificationId` so a
 * token cannot be replayed with another body. A token whose `exp` has passed, or whose `iat` is
 * older than `age.maxAgeSeconds` (or ahead of the clock), is refused. One with neither claim is
 * accepted, as Hull's own library accepts it (docs/hull_trust.md says why), and noted once.
 */
export async function verifyHullJwt(
  token: string | null | undefined,
  key: CryptoKey,
  notificationId: string,
  age: TokenAgeOptions = {},
): Promise<VerifyResult> {
  const maxAge = age.maxAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  const jwt = (token ?? "").trim().replace(/^Bearer\s+/i, "");
  if (!jwt) return { ok: false, reason: "smart-notifier token is missing" };
  const now = age.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = age.toleranceSeconds ?? 60;
  let payload;
  try {
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: ["RS256"],
      currentDate: new Date(now * 1000),
      clockTolerance: tolerance,
    }));
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    const detail = code === "ERR_JWT_CLAIM_VALIDATION_FAILED"
      ? ` (${(err as { claim?: string }).claim ?? "claim"})`
      : "";
    return { ok: false, reason: (JWT_REASONS[code] ?? "token is not valid") + detail };
  }
  if (!notificationId) {
    return { ok: false, reason: "notification_id is missing, so the token jti cannot be checked" };
  }
  if (payload.jti !== notificationId) {
    return { ok: false, reason: "token jti does not match the notification_id" };
  }
  if (typeof payload.iat === "number") {
    if (now - payload.iat > maxAge) {
      return {
        ok: false,
        reason: `token was issued ${now - payload.iat} s ago, longer than the replay window ` +
          `(${maxAge} s)`,
      };
    }
    if (payload.iat - now > tolerance) {
      return { ok: false, reason: `token is issued ${payload.iat - now} s in the future` };
    }
  } else if (typeof payload.exp !== "number" && !warnedAgeless) {
    warnedAgeless = true;
    console.warn(
      "Hull's smart-notifier token carries neither iat nor exp: its age cannot be checked; " +
        "replays are refused by notification_id and the body must carry the connector's secret",
    );
  }
  return { ok: true };
}
