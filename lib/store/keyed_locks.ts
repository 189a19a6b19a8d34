/**
 * In-process turn-taking per key: work on a set of keys waits for earlier work on any of
 * them. All keys are taken at once, in arrival order, so two callers never wait on each other.
 * Used by the stores so concurrent batches on the same users write one after the other
 * instead of failing each other's version checks.
 */
export class KeyedLocks {
  #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier `run` sharing a key with `keys` has finished. */
  async run<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const earlier = new Set<Promise<void>>();
    for (const k of keys) {
      const t = this.#tails.get(k);
      if (t) earlier.add(t);
    }
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const k of keys) this.#tails.set(k, mine);
    try {
      if (earlier.size) await Promise.all(earlier);
      return await fn();
    } finally {
      release();
      for (const k of keys) if (this.#tails.get(k) === mine) this.#tails.delete(k);
    }
  }

  /** Keys with work running or waiting (for tests: empty once everything finished). */
  get size(): number {
    return this.#tails.size;
  }
}
