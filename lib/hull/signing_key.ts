/**
 * Which key verifies Hull's `X-Hull-Smart-Notifier-Signature` on one request, with the checks
 * Hull's own library (hull-node's SmartNotifierValidator) makes: the signature version header
 * must name a supported version (`v1`), and a key URL is only used with all three signature
 * headers present. A key pinned in `HULL_PUBLIC_KEY` always wins and no URL is fetched then;
 * otherwise the key comes from the header's URL through the allow-listed, caching fetcher.
 */
import type { HullKeyFetcher, KeyResult } from "./key_fetcher.ts";

export const KEY_URL_HEADER = "x-hull-smart-notifier-signature-public-key-url";
export const VERSION_HEADER = "x-hull-smart-notifier-signature-version";
/** Signature versions we verify, as hull-node's `supportedSignaturesVersions`. */
export const SUPPORTED_VERSIONS = ["v1"];

/** Where Hull's key may come from on this instance. */
export interface HullKeySource {
  /** HULL_PUBLIC_KEY, imported; when set, no key is ever fetched. */
  pinned: CryptoKey | null;
  /** Fetches keys from allowed URLs (HULL_KEY_HOSTS); null or disabled: none are fetched. */
  fetcher: HullKeyFetcher | null;
}

/** True when an RS256 token can be verified at all on this instance. */
export function canVerifyHull(src: HullKeySource | undefined): boolean {
  return Boolean(src && (src.pinned || src.fetcher?.enabled));
}

/** The key for this request's token, or why none may be used. */
export function hullSigningKey(
  headers: Headers,
  token: string,
  src: HullKeySource,
): Promise<KeyResult> {
  const refuse = (reason: string) => Promise.resolve<KeyResult>({ ok: false, status: 401, reason });
  const version = headers.get(VERSION_HEADER)?.trim();
  if (version !== undefined && !SUPPORTED_VERSIONS.includes(version)) {
    return refuse(`unsupported signature version "${version.slice(0, 20)}" (supported: v1)`);
  }
  if (src.pinned) return Promise.resolve({ ok: true, key: src.pinned });
  const url = headers.get(KEY_URL_HEADER)?.trim();
  if (!url) return refuse("no key: X-Hull-Smart-Notifier-Signature-Public-Key-Url is missing");
  if (version === undefined) return refuse("X-Hull-Smart-Notifier-Signature-Version is missing");
  if (!src.fetcher?.enabled) {
    return refuse("fetching Hull's key is disabled (HULL_KEY_HOSTS=none): set HULL_PUBLIC_KEY");
  }
  return src.fetcher.get(url, token);
}

/**
 * The key for this request when it is at hand without a fetch (pinned, or cached for the URL
 * the request names); null otherwise. Used to answer a body that cannot be a notification.
 */
export function hullKeyAtHand(headers: Headers, src: HullKeySource): CryptoKey | null {
  if (src.pinned) return src.pinned;
  const url = headers.get(KEY_URL_HEADER)?.trim();
  return url && src.fetcher?.enabled ? src.fetcher.cached(url) : null;
}
