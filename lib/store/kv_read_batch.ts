/**
 * Point reads of concurrent callers packed into shared `getMany` calls.
 *
 * Local Deno KV runs every read and write one at a time on a single SQLite thread, and each
 * operation is a round trip to that thread and back. Under load (many sockets identifying at
 * once, the CPU shared with other processes) the round trips, not SQLite, are the cost: 40
 * concurrent single-key reads took ~8 ms each in a test where the same reads packed ten to a
 * `getMany` took ~2 ms. So one packed read goes to KV at a time, and reads asked for meanwhile
 * wait and then share the next `getMany` (at most 10 keys, KV's limit). It serves sockets'
 * reads (lookups, profiles); a webhook batch's head reads, already ten to a `getMany`, go to KV
 * directly, since here they would wait behind each other.
 *
 * Nothing is cached: a read is sent only after it was asked for, never answered by a read
 * that was already on its way, so each caller sees the store as of a moment after its call,
 * exactly as with its own `getMany`. One caller's keys always go in the same `getMany` (one
 * consistent snapshot).
 */

/** Keys one KV `getMany` may read. */
export const GET_MANY_KEYS = 10;

interface Pending {
  keys: Deno.KvKey[];
  resolve(entries: Deno.KvEntryMaybe<unknown>[]): void;
  reject(err: unknown): void;
}

export class KvReadBatcher {
  #queue: Pending[] = [];
  #sending = false;

  constructor(private readonly kv: Deno.Kv) {}

  /** What `kv.getMany(keys)` answers, read together with other callers' keys. */
  getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    // More than one getMany holds: sent as asked (KV decides), not split across snapshots.
    if (!keys.length || keys.length > GET_MANY_KEYS) return this.kv.getMany<T[]>(keys);
    return new Promise((resolve, reject) => {
      this.#queue.push({
        keys,
        resolve: resolve as Pending["resolve"],
        reject,
      });
      this.#pump();
    });
  }

  /** What `kv.get(key)` answers. */
  async get<T>(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<T>> {
    return (await this.getMany<T>([key]))[0];
  }

  #pump(): void {
    if (!this.#sending && this.#queue.length) {
      const batch: Pending[] = [];
      let n = 0;
      let i = 0;
      while (i < this.#queue.length && n + this.#queue[i].keys.length <= GET_MANY_KEYS) {
        n += this.#queue[i].keys.length;
        batch.push(this.#queue[i++]);
      }
      this.#queue = this.#queue.slice(i);
      this.#sending = true;
      let sent: Promise<Deno.KvEntryMaybe<unknown>[]>;
      try {
        sent = this.kv.getMany(batch.flatMap((p) => p.keys));
      } catch (err) {
        sent = Promise.reject(err); // an invalid key may throw before any promise exists
      }
      sent.then(
        (entries) => {
          let off = 0;
          for (const p of batch) p.resolve(entries.slice(off, off += p.keys.length));
        },
        (err) => {
          for (const p of batch) p.reject(err);
        },
      ).finally(() => {
        this.#sending = false;
        this.#pump();
      });
    }
  }
}
