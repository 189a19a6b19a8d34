/**
 * A Hull connector's credentials: the latest `configuration` ({ id, organization, secret })
 * Hull sent with a notification it signed, kept in the connector's own store scope for every
 * instance. The secret is stored encrypted (JWE `dir` + A256GCM, via jose) under a key derived
 * with HKDF from the server SECRET, and bound to the connector id and organization; it is never
 * logged or shown. The stored id and secret are what the connector's Hull-signed bodies must
 * carry (connector_binding.ts and registry.ts decide). An organization the binding rules no
 * longer allow (HULL_ORGANIZATIONS changed) is never used for a request.
 */
import { compactDecrypt, CompactEncrypt } from "jose";
import type { Store } from "../store/store.ts";
import type { RegisteredConnector } from "./connector_binding.ts";

/** Credentials of a Hull connector, as Hull sends them in `configuration`. */
export interface HullConnection {
  id: string;
  organization: string;
  secret: string;
}

/** What is stored: the secret only as a JWE. */
interface StoredConnection {
  id: string;
  organization: string;
  secret_jwe: string;
  /** When these credentials were first or last changed (ms). */
  updated_at: number;
}

/** What the dashboard may show of the connection: never the secret. */
export interface ConnectionInfo {
  id: string;
  organization: string;
  updated_at: number;
  /** False when the stored secret cannot be decrypted (SECRET changed): nothing matches it. */
  secret_readable: boolean;
  /** False when the organization is no longer allowed: no request goes to it. */
  organization_allowed: boolean;
}

const META = "hull_connector";
/** How long an instance trusts its copy before reading the store again. */
const CACHE_MS = 5_000;

const encoder = new TextEncoder();

/** The credentials store of one instance (reads are cached for a few seconds). */
export class HullCredentials {
  #cached: { at: number; doc: StoredConnection | null; secret: string | null } | null = null;
  #warned = false;

  private constructor(
    private readonly store: Store,
    private readonly key: Uint8Array,
    private readonly organizationAllowed: (organization: string) => boolean,
  ) {}

  /**
   * Derives the encryption key from the server secret. `organizationAllowed` says whether a
   * stored organization may still receive requests (default: any).
   */
  static async create(
    store: Store,
    serverSecret: string,
    organizationAllowed: (organization: string) => boolean = () => true,
  ): Promise<HullCredentials> {
    const base = await crypto.subtle.importKey(
      "raw",
      encoder.encode(serverSecret),
      "HKDF",
      false,
      ["deriveBits"],
    );
    const bits = await crypto.subtle.deriveBits(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: encoder.encode("hull-browser"),
        info: encoder.encode("hull-connector-credentials/v1"),
      },
      base,
      256,
    );
    return new HullCredentials(store, new Uint8Array(bits), organizationAllowed);
  }

  /**
   * The connection requests may use, with its secret decrypted; null when none is known, its
   * secret cannot be read, or its organization is no longer allowed.
   */
  async current(): Promise<HullConnection | null> {
    const c = await this.#load();
    return c.doc && c.secret !== null && this.organizationAllowed(c.doc.organization)
      ? { id: c.doc.id, organization: c.doc.organization, secret: c.secret }
      : null;
  }

  /**
   * This scope's connector as the binding rule sees it (secret null: unreadable); null: none.
   * `fresh` reads the store rather than this instance's copy (before registering a connector).
   */
  async registered(fresh = false): Promise<RegisteredConnector | null> {
    const c = await this.#load(fresh);
    return c.doc && { id: c.doc.id, organization: c.doc.organization, secret: c.secret };
  }

  /** Id and organization of the connector this deployment serves (no secret); null: none yet. */
  async info(): Promise<ConnectionInfo | null> {
    const { doc, secret } = await this.#load();
    return doc && {
      id: doc.id,
      organization: doc.organization,
      updated_at: doc.updated_at,
      secret_readable: secret !== null,
      organization_allowed: this.organizationAllowed(doc.organization),
    };
  }

  /** Keeps `conn` as the connection in force; writes only when something changed. */
  async save(
    conn: HullConnection,
    beforeWrite: () => Promise<void> = () => Promise.resolve(),
  ): Promise<void> {
    const c = await this.#load();
    if (
      c.doc?.id === conn.id && c.doc.organization === conn.organization && c.secret === conn.secret
    ) return;
    await beforeWrite();
    const doc: StoredConnection = {
      id: conn.id,
      organization: conn.organization,
      secret_jwe: await new CompactEncrypt(encoder.encode(conn.secret))
        .setProtectedHeader({ alg: "dir", enc: "A256GCM", cid: conn.id, org: conn.organization })
        .encrypt(this.key),
      updated_at: Date.now(),
    };
    await this.store.setMeta(META, doc);
    this.#cached = { at: Date.now(), doc, secret: conn.secret };
  }

  /**
   * Forgets the connection in this scope (the next Hull-signed notification for the connector
   * binds it again); removing a connector (ConnectorDirectory.remove) clears it with the rest.
   */
  async forget(): Promise<void> {
    await this.store.setMeta(META, null);
    this.#cached = { at: Date.now(), doc: null, secret: null };
  }

  async #load(fresh = false): Promise<{ doc: StoredConnection | null; secret: string | null }> {
    if (!fresh && this.#cached && Date.now() - this.#cached.at < CACHE_MS) return this.#cached;
    const doc = await this.store.getMeta<StoredConnection>(META);
    let secret: string | null = null;
    if (doc?.secret_jwe) {
      // Reuse the decrypted secret while the stored ciphertext is the same.
      if (this.#cached?.doc?.secret_jwe === doc.secret_jwe) secret = this.#cached.secret;
      else secret = await this.#decrypt(doc);
    }
    this.#cached = { at: Date.now(), doc: doc?.id ? doc : null, secret };
    return this.#cached;
  }

  async #decrypt(doc: StoredConnection): Promise<string | null> {
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(doc.secret_jwe, this.key);
      // The ciphertext is bound to its connector: a swapped document is not used.
      if (protectedHeader.cid !== doc.id || protectedHeader.org !== doc.organization) return null;
      return new TextDecoder().decode(plaintext);
    } catch {
      if (!this.#warned) {
        this.#warned = true;
        console.warn(
          "the stored Hull connector secret cannot be decrypted (SECRET changed?): profiles " +
            "are not fetched and Hull's notifications are refused until the connector is " +
            "removed in the dashboard",
        );
      }
      return null;
    }
  }
}
