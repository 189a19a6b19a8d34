/**
 * Hull's smart-notifier signing key, fetched from the URL Hull names in
 * `X-Hull-Smart-Notifier-Signature-Public-Key-Url`, but only when that URL is `https` on a host
 * allowed by `HULL_KEY_HOSTS`: any other URL is refused before a request is made, so a sender
 * cannot make this server fetch what it likes (no redirects are followed either). Keys are
 * cached per URL for a while, concurrent requests for one URL share one fetch, and new fetches
 * are rate-limited per instance. Like Hull's own library, the token is POSTed to the URL.
 */
import { type DomainPattern, originAllowed } from "../domains.ts";
import { MinuteCounter } from "../socket/limits.ts";
import { importHullPublicKey } from "../webhook/signature.ts";

export interface KeyFetcherOptions {
  /** Hosts whose https URLs may serve the key (HULL_KEY_HOSTS). */
  hosts: DomainPattern[];
  /** HTTP client for the fetch (e.g. one trusting extra CA certificates); default: Deno's. */
  client?: Deno.HttpClient;
  /** How long a fetched key is used before it is fetched again (default 1 hour). */
  ttlMs?: number;
  /** Timeout of one key fetch (default 5 s). */
  timeoutMs?: number;
  /** Most key fetches (cache misses) per minute on this instance (default 30). */
  fetchesPerMinute?: number;
}

/** A usable key, or why not; 503 means "try again later" (Hull retries), 401 means refused. */
export type KeyResult =
  | { ok: true; key: CryptoKey }
  | { ok: false; status: 401 | 503; reason: string };

/** Largest key document read (a PEM public key or certificate is a few KB). */
const MAX_KEY_BYTES = 16 * 1024;
const MAX_URL_LENGTH = 2048;
const MAX_CACHED = 32;

/** Fetches and caches Hull's public keys from allowed URLs only. */
export class HullKeyFetcher {
  #cache = new Map<string, { key: CryptoKey; expires: number }>();
  #inflight = new Map<string, Promise<KeyResult>>();
  #window = new MinuteCounter();
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #perMinute: number;

  constructor(private readonly opts: KeyFetcherOptions) {
    this.#ttl = opts.ttlMs ?? 3600_000;
    this.#timeout = opts.timeoutMs ?? 5_000;
    this.#perMinute = opts.fetchesPerMinute ?? 30;
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

  /** The key published at `url` (cached), fetched with `token` as the body like Hull's library. */
  get(url: string, token: string): Promise<KeyResult> {
    const refused = this.refusal(url);
    if (refused) return Promise.resolve({ ok: false, status: 401, reason: refused });
    const cached = this.#cache.get(url);
    if (cached && cached.expires > Date.now()) {
      return Promise.resolve({ ok: true, key: cached.key });
    }
    let pending = this.#inflight.get(url);
    if (!pending) {
      if (this.#window.hit("") > this.#perMinute) {
        return Promise.resolve({
          ok: false,
          status: 503,
          reason: `more than ${this.#perMinute} key fetches a minute; retry later`,
        });
      }
      pending = this.#fetch(url, token).finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, pending);
    }
    return pending;
  }

  async #fetch(url: string, token: string): Promise<KeyResult> {
    const fail = (status: 401 | 503, reason: string): KeyResult => ({ ok: false, status, reason });
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        body: token,
        headers: { "content-type": "text/plain" },
        redirect: "manual",
        signal: AbortSignal.timeout(this.#timeout),
        client: this.opts.client,
      });
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError";
      return fail(
        503,
        timedOut ? "key URL did not answer in time" : "key URL could not be fetched",
      );
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return fail(401, "key URL answered with a redirect, which is not followed");
    }
    if (!res.ok) {
      await res.body?.cancel();
      return fail(res.status >= 500 ? 503 : 401, `key URL answered ${res.status}`);
    }
    const text = await readLimited(res, MAX_KEY_BYTES);
    if (text === null) return fail(401, `key URL answered more than ${MAX_KEY_BYTES} bytes`);
    let key: CryptoKey;
    try {
      key = await importHullPublicKey(text);
    } catch {
      return fail(401, "key URL did not answer with a PEM public key");
    }
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(url, { key, expires: Date.now() + this.#ttl });
    return { ok: true, key };
  }
}

/** The body as text, or null when it is longer than `max` bytes (reading stops there). */
async function readLimited(res: Response, max: number): Promise<string | null> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(bytes);
}
