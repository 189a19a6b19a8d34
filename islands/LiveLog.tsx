import { useComputed, useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { LogEntry } from "../lib/store/store.ts";

/** A connector event as the log page shows it (identifiers already masked by the server). */
export type LogRow = LogEntry;

/** Most rows kept in the page; older ones fall off. */
const MAX_ROWS = 500;

function matches(row: LogRow, f: { event: string; identifier: string; domain: string }) {
  if (f.event && !row.event.includes(f.event)) return false;
  if (f.domain && !(row.domain ?? "").includes(f.domain)) return false;
  if (f.identifier) {
    const ids = Object.entries(row.identifiers ?? {}).map(([k, v]) => `${k}:${v}`).join(" ");
    if (!ids.includes(f.identifier)) return false;
  }
  return true;
}

/**
 * The live log of one connector: server-sent events from `stream` (the connector's stream
 * URL), newest first, filterable, pausable, bounded.
 */
export default function LiveLog(props: { initial: LogRow[]; events: string[]; stream: string }) {
  const rows = useSignal(props.initial.slice(0, MAX_ROWS));
  const paused = useSignal(false);
  const buffered = useSignal<LogRow[]>([]);
  // Empty when rendered on the server: a page without JavaScript says so (a <noscript> note)
  // instead of "connecting…" forever.
  const status = useSignal("");
  const event = useSignal("");
  const identifier = useSignal("");
  const domain = useSignal("");
  const visible = useComputed(() =>
    rows.value.filter((r) =>
      matches(r, { event: event.value, identifier: identifier.value, domain: domain.value })
    )
  );

  useEffect(() => {
    status.value = "connecting…";
    const after = props.initial[0]?.id ?? "";
    const url = new URL(props.stream, location.href);
    url.searchParams.set("after", after);
    const source = new EventSource(url.pathname + url.search);
    source.onopen = () => (status.value = "live");
    source.onerror = () => (status.value = "reconnecting…");
    source.addEventListener("entry", (e) => {
      const row = JSON.parse((e as MessageEvent).data) as LogRow;
      if (paused.value) buffered.value = [row, ...buffered.value].slice(0, MAX_ROWS);
      else rows.value = [row, ...rows.value].slice(0, MAX_ROWS);
    });
    return () => source.close();
  }, []);

  const toggle = () => {
    if (paused.value) {
      rows.value = [...buffered.value, ...rows.value].slice(0, MAX_ROWS);
      buffered.value = [];
    }
    paused.value = !paused.value;
  };

  return (
    <div>
      <div class="row panel">
        <select
          aria-label="event"
          value={event.value}
          onChange={(e) => (event.value = (e.target as HTMLSelectElement).value)}
        >
          <option value="">all events</option>
          {props.events.map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
        <input
          type="search"
          placeholder="identifier (masked, e.g. email:a**)"
          aria-label="identifier"
          value={identifier.value}
          onInput={(e) => (identifier.value = (e.target as HTMLInputElement).value)}
        />
        <input
          type="search"
          placeholder="domain"
          aria-label="domain"
          value={domain.value}
          onInput={(e) => (domain.value = (e.target as HTMLInputElement).value)}
        />
        <button type="button" class="secondary" onClick={toggle}>
          {paused.value ? `Resume (${buffered.value.length} new)` : "Pause"}
        </button>
        <span class="muted" data-status>{paused.value ? "paused" : status.value}</span>
      </div>
      {visible.value.length
        ? (
          <div class="table-scroll">
            <table class="log">
              <thead>
                <tr>
                  <th>time</th>
                  <th>event</th>
                  <th>identifiers</th>
                  <th>domain</th>
                  <th>instance</th>
                  <th>message</th>
                </tr>
              </thead>
              <tbody>
                {visible.value.map((r, i) => (
                  <tr key={r.id ?? i} data-event={r.event}>
                    <td>{r.time.slice(11, 23)}</td>
                    <td>
                      <span class={r.event.endsWith("error") ? "tag error" : "tag"}>{r.event}</span>
                    </td>
                    <td>
                      {Object.entries(r.identifiers ?? {}).map(([k, v]) => `${k}:${v}`).join(" ")}
                    </td>
                    <td>{r.domain ?? ""}</td>
                    <td>{r.instance}</td>
                    <td class="msg">{r.message ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
        : (
          <div class="empty">
            No events{event.value || identifier.value || domain.value
              ? " match these filters"
              : " yet"}. Events appear here as visitors connect and Hull sends updates.
          </div>
        )}
    </div>
  );
}
