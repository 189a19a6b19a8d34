/**
 * Live metrics of one instance for the dashboard: counters (webhooks, pushes, refusals, limit
 * trips), webhook→push latency samples of the last minutes, and pushes per second over the
 * last two minutes. Cheap to update on the hot path: plain numbers and fixed-size arrays.
 */

const LATENCY_WINDOW_MS = 5 * 60_000;
const MAX_SAMPLES = 5_000;
const SERIES_SECONDS = 120;

/** A snapshot, summed across instances by the dashboard. */
export interface MetricsSnapshot {
  instance: string;
  counters: Record<string, number>;
  /** Latency samples (ms) of the last minutes; merged before percentiles are taken. */
  latencies: number[];
  /** Pushes per second, oldest first, ending at `seriesEnd` (unix seconds). */
  pushesPerSecond: number[];
  seriesEnd: number;
  sockets: number;
  identified: number;
  rooms: number;
}

export class Metrics {
  readonly counters: Record<string, number> = {};
  // A ring of the newest MAX_SAMPLES samples: a 100-user batch records 100 of them.
  #at = new Float64Array(MAX_SAMPLES);
  #ms = new Float64Array(MAX_SAMPLES);
  #n = new Uint32Array(MAX_SAMPLES);
  #next = 0;
  #count = 0;
  #series = new Array<number>(SERIES_SECONDS).fill(0);
  #seriesEnd = Math.floor(Date.now() / 1000);

  inc(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  /** Records a webhook→push latency shared by `n` pushes (a batch's users): O(1). */
  latency(ms: number, at = Date.now(), n = 1): void {
    this.#at[this.#next] = at;
    this.#ms[this.#next] = ms;
    this.#n[this.#next] = n;
    this.#next = (this.#next + 1) % MAX_SAMPLES;
    this.#count = Math.min(this.#count + 1, MAX_SAMPLES);
  }

  /** Counts `n` pushes in the current second. */
  pushed(n = 1): void {
    this.#advance();
    this.#series[SERIES_SECONDS - 1] += n;
    this.inc("pushes_sent", n);
  }

  /**
   * Per-push samples of the last LATENCY_WINDOW_MS, oldest first: the newest MAX_SAMPLES
   * pushes (a batch's record counts once per push it made).
   */
  latencies(): number[] {
    const since = Date.now() - LATENCY_WINDOW_MS;
    const out: number[] = [];
    for (let k = 1; k <= this.#count && out.length < MAX_SAMPLES; k++) {
      const i = (this.#next - k + MAX_SAMPLES) % MAX_SAMPLES;
      if (this.#at[i] < since) break;
      const n = Math.min(this.#n[i], MAX_SAMPLES - out.length);
      for (let c = 0; c < n; c++) out.push(this.#ms[i]);
    }
    return out.reverse();
  }

  series(): { values: number[]; end: number } {
    this.#advance();
    return { values: [...this.#series], end: this.#seriesEnd };
  }

  #advance(): void {
    const now = Math.floor(Date.now() / 1000);
    const gap = Math.min(now - this.#seriesEnd, SERIES_SECONDS);
    if (gap <= 0) return;
    this.#series.splice(0, gap);
    for (let i = 0; i < gap; i++) this.#series.push(0);
    this.#seriesEnd = now;
  }
}

/** The `q` quantile (0..1) of `values`, or null when there are none. */
export function quantile(values: number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Sums snapshots of several instances into one view. */
export function mergeSnapshots(snaps: MetricsSnapshot[]) {
  const counters: Record<string, number> = {};
  const latencies: number[] = [];
  const end = Math.max(...snaps.map((s) => s.seriesEnd), 0);
  const series = new Array<number>(SERIES_SECONDS).fill(0);
  let sockets = 0, identified = 0, rooms = 0;
  for (const s of snaps) {
    for (const [k, v] of Object.entries(s.counters)) counters[k] = (counters[k] ?? 0) + v;
    latencies.push(...s.latencies);
    const shift = end - s.seriesEnd;
    s.pushesPerSecond.forEach((v, i) => {
      const j = i - shift;
      if (j >= 0) series[j] += v;
    });
    sockets += s.sockets;
    identified += s.identified;
    rooms += s.rooms;
  }
  return {
    instances: snaps.length,
    counters,
    sockets,
    identified,
    rooms,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    samples: latencies.length,
    pushesPerSecond: series,
  };
}

/** Where limit trips, refusals and other events are counted (the instance's Metrics). */
export interface Counters {
  inc(name: string, by?: number): void;
}

/**
 * What the webhook path records: counters, pushes and latencies. The instance's Metrics, or in
 * a webhook worker, messages to the isolate that holds them (lib/webhook/pool.ts).
 */
export interface MetricsSink extends Counters {
  pushed(n?: number): void;
  latency(ms: number, at?: number, n?: number): void;
}
