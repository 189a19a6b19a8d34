/**
 * Test helper: a clock and timers driven by hand, for code that takes an injectable clock
 * (`now`, `setTimeout`, `clearTimeout`). Time moves only when a test calls `advance`, which runs
 * the timers that fall due in order and awaits what each returns, so a test asserts exact
 * counts at exact times instead of sleeping.
 */
export class FakeClock {
  #now = 0;
  #nextId = 1;
  #timers = new Map<number, { at: number; fn: () => unknown }>();

  /** Milliseconds since the clock was made (starts at 0). */
  now = (): number => this.#now;

  setTimeout = (fn: () => unknown, ms: number): number => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (id: unknown): void => void this.#timers.delete(id as number);

  /** Timers set and not yet run or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time `ms` forward, running each timer due by then at its own time (earliest first,
   * ties in the order they were set) and awaiting its result before the next; timers set
   * meanwhile run too if they fall due in the window.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    while (true) {
      let next: [number, { at: number; fn: () => unknown }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      await next[1].fn();
    }
    this.#now = until;
  }
}
