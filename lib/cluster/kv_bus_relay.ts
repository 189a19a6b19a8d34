/**
 * The relay flag of this instance's publisher record (`PubRecord.l`, protocol: kv_adapter.ts):
 * what is wanted, whether a committed record holds it, and who waits for that. The writer
 * (kv_bus_writer.ts) puts the wanted flag in each commit and reports what it committed here.
 */

/** The relay flag as the writer commits it. */
export class RelayFlag {
  /** The flag wanted (`want`). */
  #wanted = false;
  /** A committed record holds the flag on, and no commit since wanting it off. */
  #held = false;
  /** `want(true)` calls waiting for a record that holds the flag. */
  #waiters: PromiseWithResolvers<void>[] = [];

  /**
   * @param closed True once the bus is closed.
   * @param kick Starts the writer, which commits the record (with no message if need be).
   */
  constructor(readonly closed: () => boolean, readonly kick: () => void) {}

  /** The flag wanted now (what the next commit writes). */
  get wanted(): boolean {
    return this.#wanted;
  }

  /** True when a committed record holds the flag on (no roster bump needed to turn it on). */
  get held(): boolean {
    return this.#held;
  }

  /** True when someone waits for a committed record that holds the flag. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /**
   * Sets the flag. On: resolves once a committed record holds it (at once if one does), with
   * the roster bumped as it turns on, so that a write fenced on an older roster fails
   * (KvBus.fence); rejects when that commit fails. Off: written by the next commit (a
   * heartbeat's at the latest).
   */
  want(on: boolean): Promise<void> {
    this.#wanted = on;
    if (!on) {
      this.#held = false; // a commit in flight may have it on, the next one has it off
      for (const w of this.#waiters.splice(0)) w.reject(new Error("relay flag turned off"));
      return Promise.resolve();
    }
    if (this.#held) return Promise.resolve();
    if (this.closed()) return Promise.reject(new Error("kv adapter is closed"));
    const w = Promise.withResolvers<void>();
    this.#waiters.push(w);
    this.kick();
    return w.promise;
  }

  /** A record with flag `relay` committed. */
  committed(relay: boolean): void {
    // Wanted off meanwhile: not held (the next commit writes it off).
    if (relay && this.#wanted) {
      this.#held = true;
      for (const w of this.#waiters.splice(0)) w.resolve();
    }
  }

  /** A commit failed: whoever waits for the flag learns that it is not committed. */
  failed(err: unknown): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
