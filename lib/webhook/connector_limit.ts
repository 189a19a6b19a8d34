/**
 * Webhooks in flight per connector on one instance: past the limit, a connector's further
 * notifications are answered "retry later" at once, so one connector's flood cannot take every
 * processing slot (and store round trip) of the instance from the others. Refusals are counted
 * per burst: the first of a burst is reported, the rest are not, until the connector has no
 * notification in flight here any more.
 */

/** Default most webhooks in flight per connector per instance. */
export const MAX_INFLIGHT_PER_CONNECTOR = 8;

/** The outcome of `enter`. */
export type Entry =
  | { ok: true; release: () => void }
  | { ok: false; inflight: number; firstOfBurst: boolean };

/** Counts webhooks in flight per connector id. */
export class ConnectorLimit {
  #inflight = new Map<string, number>();
  /** Connectors refused since they were last under the limit. */
  #bursting = new Set<string>();
  /** Who waits for a connector to have nothing in flight (`idle`). */
  #waiting = new Map<string, (() => void)[]>();

  constructor(readonly max = MAX_INFLIGHT_PER_CONNECTOR) {}

  /** Takes a slot of `connectorId`, or says why not; `release` gives it back (once). */
  enter(connectorId: string): Entry {
    const n = this.#inflight.get(connectorId) ?? 0;
    if (n >= this.max) {
      const firstOfBurst = !this.#bursting.has(connectorId);
      this.#bursting.add(connectorId);
      return { ok: false, inflight: n, firstOfBurst };
    }
    this.#inflight.set(connectorId, n + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#inflight.get(connectorId) ?? 1) - 1;
        if (left > 0) this.#inflight.set(connectorId, left);
        else this.#inflight.delete(connectorId);
        if (left === 0) {
          this.#bursting.delete(connectorId);
          for (const wake of this.#waiting.get(connectorId) ?? []) wake();
          this.#waiting.delete(connectorId);
        }
      },
    };
  }

  /**
   * Resolves once `connectorId` has no webhook in flight here (at once when it has none): a
   * removal waits for them, so that their writes land before its data is deleted.
   */
  idle(connectorId: string): Promise<void> {
    if (!this.inflight(connectorId)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiting.get(connectorId) ?? [];
      list.push(resolve);
      this.#waiting.set(connectorId, list);
    });
  }

  /** Webhooks of `connectorId` in flight here now. */
  inflight(connectorId: string): number {
    return this.#inflight.get(connectorId) ?? 0;
  }
}
