/**
 * Abuse limits: how many connections one IP may open per minute, and one connector's pages
 * (so a flood on one connector cannot starve another's handshakes), how often one socket may
 * send `user.fetch`, how many identifiers and rooms one socket may hold, and how large a socket
 * message may be. Each trip is logged; in `observe` mode nothing is refused, so limits can be
 * tuned on real traffic first. Counters live per instance (a visitor's socket stays on one).
 */

export interface Limits {
  connectionsPerIpPerMinute: number;
  connectionsPerConnectorPerMinute: number;
  fetchesPerSocketPerMinute: number;
  identifiersPerSocket: number;
  roomsPerSocket: number;
  messageBytes: number;
  mode: "enforce" | "observe";
}

export const DEFAULT_LIMITS: Limits = {
  connectionsPerIpPerMinute: 120,
  connectionsPerConnectorPerMinute: 6_000,
  fetchesPerSocketPerMinute: 30,
  identifiersPerSocket: 8,
  roomsPerSocket: 16,
  messageBytes: 16 * 1024,
  mode: "enforce",
};

export type LimitName = Exclude<keyof Limits, "mode">;

/** Fixed one-minute windows keyed by a string (an IP, a connector id). */
export class MinuteCounter {
  #windows = new Map<string, { start: number; count: number }>();
  #lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one event for `key` and returns the count in the current minute. */
  hit(key: string): number {
    const t = this.now();
    this.#sweep(t);
    const w = this.#windows.get(key);
    if (!w || t - w.start >= 60_000) {
      this.#windows.set(key, { start: t, count: 1 });
      return 1;
    }
    return ++w.count;
  }

  forget(key: string): void {
    this.#windows.delete(key);
  }

  get size(): number {
    return this.#windows.size;
  }

  // Old windows are dropped at most once a minute, so memory follows active keys only.
  #sweep(t: number): void {
    if (t - this.#lastSweep < 60_000) return;
    this.#lastSweep = t;
    for (const [k, w] of this.#windows) if (t - w.start >= 60_000) this.#windows.delete(k);
  }
}

export type { Counters } from "../metrics.ts";
