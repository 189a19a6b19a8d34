import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";

/** The overview's numbers, as served by `/admin/api/stats` (summed across instances). */
export interface Stats {
  instances: number;
  sockets: number;
  identified: number;
  rooms: number;
  counters: Record<string, number>;
  p50: number | null;
  p99: number | null;
  samples: number;
  pushesPerSecond: number[];
}

const CARDS: [string, (s: Stats) => string][] = [
  ["Connected sockets", (s) => fmt(s.sockets)],
  ["Identified visitors", (s) => fmt(s.identified)],
  ["Rooms", (s) => fmt(s.rooms)],
  ["Instances", (s) => fmt(s.instances)],
  ["Webhooks received", (s) => fmt(s.counters.webhooks_received ?? 0)],
  ["Pushes sent", (s) => fmt(s.counters.pushes_sent ?? 0)],
  ["Refused connections", (s) => fmt(s.counters.refused_connections ?? 0)],
  ["Webhook→push p50", (s) => ms(s.p50)],
  ["Webhook→push p99", (s) => ms(s.p99)],
];

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function ms(v: number | null): string {
  return v === null ? "–" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

/** Live counters and a pushes-per-second chart, refreshed every 2 s. */
export default function LiveStats(props: { initial: Stats }) {
  const stats = useSignal(props.initial);
  const error = useSignal("");
  useEffect(() => {
    const timer = setInterval(async () => {
      try {
        const res = await fetch("/admin/api/stats", { headers: { accept: "application/json" } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        stats.value = await res.json();
        error.value = "";
      } catch (err) {
        error.value = `Live update failed (${(err as Error).message}); retrying.`;
      }
    }, 2000);
    return () => clearInterval(timer);
  }, []);
  const s = stats.value;
  const series = s.pushesPerSecond.slice(-60);
  const max = Math.max(1, ...series);
  const points = series.map((v, i) =>
    `${(i / Math.max(1, series.length - 1)) * 600},${88 - (v / max) * 84}`
  )
    .join(" ");
  return (
    <div>
      <div class="cards">
        {CARDS.map(([label, value]) => (
          <div class="card" key={label}>
            <div class="label">{label}</div>
            <div class="value" data-stat={label}>{value(s)}</div>
          </div>
        ))}
      </div>
      <div class="panel">
        <div class="row">
          <strong>Pushes per second</strong>
          <span class="muted">
            last 60 s · peak {fmt(max === 1 && !series.some((v) => v) ? 0 : max)}/s
          </span>
        </div>
        <svg
          class="chart"
          viewBox="0 0 600 90"
          preserveAspectRatio="none"
          role="img"
          aria-label="pushes per second"
        >
          <polyline points={points} />
        </svg>
      </div>
      {error.value && <p class="error">{error.value}</p>}
    </div>
  );
}
