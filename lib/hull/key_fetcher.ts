/**
 * Hull's smart-notifier signing key, fetched from the URL Hull names in
 * `X-Hull-Smart-Notifier-Signature-Public-Key-Url`, but only when that URL is `https` on a host
 * allowed by `HULL_KEY_HOSTS`: any other URL is refused before a request is made, so a sender
 * cannot make this server fetch what it likes (no redirects are followed either). The answer is
 * a key only when its body, trimmed, is exactly one PEM public key or certificate and its type
 * is not HTML: a page that merely contains a PEM (an echo of a query parameter) is not a key.
 * One deadline covers the whole fetch, body included. Keys are cached per URL for a while,
 * concurrent requests for one URL share one fetch, and the fetches that fail (or are still in
 * flight) are limited per minute: a flood of junk URLs delays nothing that succeeds once it
 * is over, and the webhook checks the body's connector before any fetch (docs/hull_trust.md).
 * Like Hull's own library, the token is POSTed to the URL.
 */
import { type DomainPattern, originAllowed } from "../domains.ts";
import { importHullPublicKey } from "../webhook/signature.ts";
import { readCapped } from "./capped_body.ts";

export interface KeyFetcherOptions {
  /** Hosts whose https URLs may serve the key (HULL_KEY_HOSTS). */
  hosts: DomainPattern[];
  /** HTTP client for the fetch (e.g. one trusting extra CA certificates); default: Deno's. */
  client?: Deno.HttpClient;
  /** How long a fetched key is used before it is fetched again (default 1 hour). */
  ttlMs?: number;
  /** Deadline of one key fetch, from the request to the last byte (default 5 s). */
  timeoutMs?: number;
  /** Most key fetches failed or in flight within a minute on this instance (default 30). */
  fetchesPerMinute?: number;
  /** The clock (ms), for tests. */
  now?: () => number;
}

/** A usable key, or why not; 503 means "try again later" (Hull retries), 401 means refused. */
export type KeyResult =
  | { ok: true; key: CryptoKey }
  | { ok: false; status: 401 | 503; reason: string };

/** Largest key document read (a PEM public key or certificate is a few KB). */
const MAX_KEY_BYTES = 16 * 1024;
const MAX_URL_LENGTH = 2048;
const MAX_CACHED = 32;
/** Exactly one PEM public key or certificate: base64 lines between matching armour lines. */
const ONE_PEM =
  /^-----BEGIN (PUBLIC KEY|CERTIFICATE)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----$/;

/**
 * Why a fetched answer is not a key, or null when its body (trimmed) is exactly one PEM public
 * key or certificate and its content type is not HTML. No repair is attempted.
 */
export function keyDocumentRefusal(contentType: string | null, body: string): string | null {
  if (contentType && /html/i.test(contentType)) return "key URL answered with an HTML page";
  if (!ONE_PEM.test(body.trim())) {
    return "key URL did not answer with exactly one PEM public key or certificate";
  }
  return null;
}

/** Fetches and caches Hull's public keys from allowed URLs only. */
export class HullKeyFetcher {
  #cache = new Map<string, { key: CryptoKey; expires: number }>();
  #inflight = new Map<string, Promise<KeyResult>>();
  /** When recent fetches failed (ms), oldest first; only the last minute is kept. */
  #failures: number[] = [];
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #perMinute: number;
  readonly #now: () => number;

  constructor(private readonly opts: KeyFetcherOptions) {
    this.#ttl = opts.ttlMs ?? 3600_000;
    this.#timeout = opts.timeoutMs ?? 5_000;
    this.#perMinute = opts.fetchesPerMinute ?? 30;
    this.#now = opts.now ?? Date.now;
  }

  /** True when some host is allowed at all (HULL_KEY_HOSTS is not `none`). */
  get enabled(): boolean {
    return this.opts.hosts.length > 0;
  }

  /** Why `url` may not be fetched, or null when it may. Makes no request. */
  refusal(url: string): string | null {
    if (url.length > MAX_URL_LENGTH) return "key URL is too long";
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return "key URL is not a URL";
    }
    if (u.protocol !== "https:") return "key URL must be https";
    if (u.username || u.password) return "key URL must not carry user info";
    if (!originAllowed(u.origin, this.opts.hosts)) {
      return `key URL host ${u.hostname} is not allowed by HULL_KEY_HOSTS`;
    }
    return null;
  }

  /** The cached key of `url`, or null when it would have to be fetched. Makes no request. */
  cached(url: string): CryptoKey | null {
    const hit = this.#cache.get(url);
    return hit && hit.expires > this.#now() ? hit.key : null;
  }

  /** The key published at `url` (cached), fetched with `token` as the body like Hull's library. */
  get(url: string, token: string): Promise<KeyResult> {
    const refused = this.refusal(url);
    if (refused) return Promise.resolve({ ok: false, status: 401, reason: refused });
    const cached = this.cached(url);
    if (cached) return Promise.resolve({ ok: true, key: cached });
    let pending = this.#inflight.get(url);
    if (!pending) {
      // Only what fails (or may yet fail: in flight) uses the budget, so a genuine key URL is
      // fetched as soon as a flood of failing ones has aged out of the minute.
      const now = this.#now();
      while (this.#failures.length && now - this.#failures[0] >= 60_000) this.#failures.shift();
      if (this.#failures.length + this.#inflight.size >= this.#perMinute) {
        return Promise.resolve({
          ok: false,
          status: 503,
          reason: `more than ${this.#perMinute} key fetches failed or pending this minute; ` +
            "retry later",
        });
      }
      pending = this.#fetch(url, token).then((r) => {
        if (!r.ok) this.#failures.push(this.#now());
        return r;
      }).finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, pending);
    }
    return pending;
  }

  async #fetch(url: string, token: string): Promise<KeyResult> {
    const fail = (status: 401 | 503, reason: string): KeyResult => ({ ok: false, status, reason });
    // One deadline for the request and every byte of the answer: a key trickled slowly is a
    // timeout (503, Hull retries), never an error of ours.
    const deadline = AbortSignal.timeout(this.#timeout);
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        body: token,
        headers: { "content-type": "text/plain" },
        redirect: "manual",
        signal: deadline,
        client: this.opts.client,
      });
    } catch {
      return fail(
        503,
        deadline.aborted ? "key URL did not answer in time" : "key URL could not be fetched",
      );
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      return fail(401, "key URL answered with a redirect, which is not followed");
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return fail(res.status >= 500 ? 503 : 401, `key URL answered ${res.status}`);
    }
    let bytes: Uint8Array | null;
    try {
      bytes = await readCapped(res, MAX_KEY_BYTES, deadline);
    } catch {
      return fail(
        503,
        deadline.aborted ? "key URL did not answer in time" : "key URL's answer broke off",
      );
    }
    if (bytes === null) return fail(401, `key URL answered more than ${MAX_KEY_BYTES} bytes`);
    const text = new TextDecoder().decode(bytes);
    const refused = keyDocumentRefusal(res.headers.get("content-type"), text);
    if (refused) return fail(401, refused);
    let key: CryptoKey;
    try {
      key = await importHullPublicKey(text);
    } catch {
      return fail(401, "key URL's PEM could not be read as an RSA key");
    }
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(url, { key, expires: this.#now() + this.#ttl });
    return { ok: true, key };
  }
}
