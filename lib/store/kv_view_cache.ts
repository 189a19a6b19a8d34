/**
 * What a visitor's identify needs (the user behind its identifiers and that user's public
 * payloads) kept in memory while this instance is the only one writing profiles to Deno KV
 * (a sole-writer term, lib/cluster/kv_sole_term.ts). Exact, not merely fresh: every write and
 * delete of the term goes through this instance, which updates the cache after its commit and
 * before the write is acknowledged; a KV read is kept only if no write of this instance began
 * or ended while it was in flight, and only within the term it began in. Outside a term
 * nothing is served or kept, and identify reads KV as before.
 *
 * Bounded: at most MAX_USERS payload views (and twice as many identifier entries), the oldest
 * dropped first; a view is the public payloads only (a few hundred bytes), never the profile.
 */

import type { ProfileView } from "./store.ts";

/** A cache answer: the user the identifiers point at, and its view (null: filtered out). */
export interface CachedLookup {
  userId: string;
  view: ProfileView;
}

/**
 * Users whose views are kept: the identify path serves the visitors of recent pushes and
 * recent identifies, and 50,000 views of ~300 bytes stay near 15 MB.
 */
export const MAX_USERS = 50_000;

/** A read's ticket: the read is kept only if the cache has not moved since. */
export type ReadTicket = number;

/** The identify cache of one instance (see the module comment). */
export class ViewCache {
  /** identKey → userId (null: known to map to nobody). */
  #ident = new Map<string, string | null>();
  #views = new Map<string, ProfileView>();
  /** Bumped by every write's start and end, by every term's start and end. */
  #moves = 0;
  #valid: () => boolean = () => false;
  /** Lookups answered here and misses (for /healthz). */
  hits = 0;
  misses = 0;

  constructor(private readonly maxUsers = MAX_USERS) {}

  /** Serve and keep only while `valid()` (the sole-writer term holds); clears the cache. */
  useTerm(valid: () => boolean): void {
    this.#valid = valid;
    this.clear();
  }

  /** True while the cache may be read and filled. */
  get active(): boolean {
    return this.#valid();
  }

  /** Drops everything (a term began or ended, or the cache was turned on). */
  clear(): void {
    this.#moves++;
    this.#ident.clear();
    this.#views.clear();
  }

  /**
   * The user the first mapped identifier points at and its view, as the store holds them now;
   * undefined when not known here (then read KV). Mirrors `lookupProfile`: the identifiers
   * are tried in order, so each one before the mapped one must be known to map to nobody.
   */
  get(identKeys: string[], settings: object): CachedLookup | null | undefined {
    if (!this.#valid()) return undefined;
    for (const k of identKeys) {
      const userId = this.#ident.get(k);
      if (userId === undefined) break;
      if (userId === null) continue;
      const view = this.#views.get(userId);
      if (!view || view.settings !== settings) break;
      this.hits++;
      return { userId, view };
    }
    if (identKeys.every((k) => this.#ident.get(k) === null)) {
      this.hits++;
      return null;
    }
    this.misses++;
    return undefined;
  }

  /** A ticket for a KV read about to start (see `read`). */
  ticket(): ReadTicket {
    return this.#moves;
  }

  /**
   * What a KV read found: `identKeys`' entries (userId, or null when unmapped) and the view of
   * the user found. Kept only if nothing moved since `ticket` was taken: a write of this
   * instance in flight meanwhile may have committed before or after the read's snapshot.
   */
  read(
    ticket: ReadTicket,
    entries: [string, string | null][],
    found: { userId: string; view: ProfileView | null } | null,
  ): void {
    if (ticket !== this.#moves || !this.#valid()) return;
    for (const [k, userId] of entries) this.#setIdent(k, userId);
    if (found?.view) this.#setView(found.userId, found.view);
  }

  /** A write or delete is about to commit: reads in flight are not kept. */
  writing(): void {
    this.#moves++;
  }

  /**
   * A commit of this instance wrote `userId`'s new version: `added` index keys now point at it,
   * and `view` (when known) is its payloads. Without a view, the user is forgotten (read again).
   */
  wrote(userId: string, added: string[], view: ProfileView | undefined): void {
    this.#moves++;
    if (!this.#valid()) return;
    for (const k of added) this.#setIdent(k, userId);
    if (view) this.#setView(userId, view);
    else this.#views.delete(userId);
  }

  /** This instance's write of `userId` may or may not have landed: forget what is known. */
  forget(userId: string, identKeys: string[]): void {
    this.#moves++;
    this.#views.delete(userId);
    for (const k of identKeys) this.#ident.delete(k);
  }

  /** `userId` was deleted along with those of `identKeys` that pointed at it. */
  deleted(userId: string, identKeys: string[]): void {
    this.#moves++;
    this.#views.delete(userId);
    for (const k of identKeys) if (this.#ident.get(k) === userId) this.#ident.set(k, null);
    // Keys this cache did not know may have pointed at it too: they stay unknown.
  }

  get size(): { users: number; identifiers: number } {
    return { users: this.#views.size, identifiers: this.#ident.size };
  }

  #setIdent(k: string, userId: string | null): void {
    this.#ident.delete(k); // re-inserted last: the oldest entries are dropped first
    if (this.#ident.size >= 2 * this.maxUsers) this.#ident.delete(this.#ident.keys().next().value!);
    this.#ident.set(k, userId);
  }

  #setView(userId: string, view: ProfileView): void {
    this.#views.delete(userId);
    if (this.#views.size >= this.maxUsers) this.#views.delete(this.#views.keys().next().value!);
    this.#views.set(userId, view);
  }
}
