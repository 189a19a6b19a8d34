/**
 * What recent notifications looked like, for the settings page: attribute names (never
 * values) and segments seen, plus the id of a recently updated user for the example payload.
 * Collected in memory on the hot path and merged into the store every few seconds.
 */
import type { Store } from "../store/store.ts";
import type { HullNotification, HullSegment } from "../types.ts";

export interface SeenDoc {
  attributes: string[];
  segments: HullSegment[];
  account_segments: HullSegment[];
  recent_user?: string;
}

const META = "seen";
const MAX_NAMES = 500;

export class SeenTracker {
  #attributes = new Set<string>();
  #segments = new Map<string, string>();
  #accountSegments = new Map<string, string>();
  #recentUser: string | undefined;
  #dirty = false;

  /** Notes the names in a validated notification. Cheap: keys only, bounded. */
  observe(n: HullNotification): void {
    const addSegs = (map: Map<string, string>, list: HullSegment[] | undefined) => {
      for (const s of list ?? []) if (map.size < MAX_NAMES) map.set(s.id, s.name ?? s.id);
    };
    addSegs(this.#segments, n.segments);
    addSegs(this.#accountSegments, n.accounts_segments);
    for (const m of n.messages ?? []) {
      for (const k of Object.keys(m.user)) {
        if (this.#attributes.size < MAX_NAMES && k.length < 100) this.#attributes.add(k);
      }
      for (const k of Object.keys(m.account ?? {})) {
        if (this.#attributes.size < MAX_NAMES && k.length < 100) {
          this.#attributes.add(`account.${k}`);
        }
      }
      addSegs(this.#segments, m.segments);
      addSegs(this.#accountSegments, m.account_segments);
      this.#recentUser = m.user.id;
      this.#dirty = true;
    }
    if (n.segments?.length || n.accounts_segments?.length) this.#dirty = true;
  }

  /** Merges what was seen into the store's document (read-modify-write, last writer merges). */
  async flush(store: Store): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const doc = await load(store);
    const merge = (a: HullSegment[], b: Map<string, string>) => {
      const m = new Map(a.map((s) => [s.id, s.name]));
      for (const [id, name] of b) m.set(id, name);
      return [...m].slice(0, MAX_NAMES).map(([id, name]) => ({ id, name }));
    };
    await store.setMeta(
      META,
      {
        attributes: [...new Set([...doc.attributes, ...this.#attributes])].sort().slice(
          0,
          MAX_NAMES,
        ),
        segments: merge(doc.segments, this.#segments),
        account_segments: merge(doc.account_segments, this.#accountSegments),
        recent_user: this.#recentUser ?? doc.recent_user,
      } satisfies SeenDoc,
    );
  }
}

/** The stored document (empty when nothing was seen yet). */
export async function load(store: Store): Promise<SeenDoc> {
  const doc = await store.getMeta<SeenDoc>(META);
  return {
    attributes: doc?.attributes ?? [],
    segments: doc?.segments ?? [],
    account_segments: doc?.account_segments ?? [],
    recent_user: doc?.recent_user,
  };
}
