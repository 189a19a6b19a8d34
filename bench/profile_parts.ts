/**
 * Where a server's main thread spends a push run, from a V8 CPU profile (`--cpu-prof`, Deno or
 * Node.js): each sample's time goes to the part of the work its stack is in, so the connector
 * and the Node.js baseline are split the same way. Pure: reads a parsed `.cpuprofile`.
 */

/** The parts a sample can be in; `idle` is time the thread waited (not CPU). */
export const PARTS = [
  "webhook",
  "delivery",
  "store",
  "event log",
  "gc",
  "runtime",
  "idle",
] as const;
export type Part = typeof PARTS[number];

/** What each part covers, for the report. */
export const PART_LABELS: Record<Exclude<Part, "idle">, string> = {
  webhook: "webhook: HTTP, signature, JSON, payloads, rooms",
  delivery: "delivery: socket.io, engine.io, WebSocket frames",
  store: "store: durable profile writes and reads",
  "event log": "event log: stdout lines, live log, stored events",
  gc: "garbage collection (on the main thread)",
  runtime: "runtime: event loop, promises, timers, other",
};

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The fields of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

/** socket.io's packages, in node_modules (Node.js) or in Deno's npm cache. */
const DELIVERY_PACKAGES =
  /(?:node_modules|registry\.npmjs\.org)\/(?:socket\.io|socket\.io-adapter|socket\.io-parser|engine\.io|engine\.io-parser|ws|base64id|debug|@socket\.io\/[^/]+)\//;

/**
 * The part of one frame, or null when the frame says nothing (runtime internals, builtins):
 * then its caller decides. Application frames (ours, the packages, the baseline) are matched
 * first, from the innermost, so that e.g. a KV op called from the store counts as store.
 */
function appPart({ functionName, url }: CallFrame): Part | null {
  if (url.includes("/lib/store/") || url.startsWith("ext:deno_kv")) return "store";
  if (functionName.startsWith("op_kv_")) return "store";
  if (/\/lib\/(?:events|event_lines)\.ts$|\/lib\/admin\/log_feed\.ts$/.test(url)) {
    return "event log";
  }
  if (url.includes("/lib/socket/") || url.includes("/lib/cluster/")) return "delivery";
  if (DELIVERY_PACKAGES.test(url) || url.startsWith("ext:deno_websocket")) return "delivery";
  if (functionName.startsWith("op_ws_")) return "delivery";
  // Ours (lib/, routes, the baselines' handlers) and the other packages (the HTTP router).
  if (url.startsWith("file://")) return "webhook";
  return null;
}

/** The part of a stack with no application frame: runtime HTTP counts as the webhook. */
function runtimePart({ url }: CallFrame): Part | null {
  if (/_http_|\/http\b|deno_http|deno_fetch|ext:deno_node\/_http/.test(url)) return "webhook";
  return null;
}

/**
 * Milliseconds of `profile` per part over the `windowMs` before the last sample whose stack
 * `inWindow` accepts (the end of the measured push run). Null when no sample matches.
 */
export function profileParts(
  profile: CpuProfile,
  inWindow: (frame: CallFrame) => boolean,
  windowMs: number,
): Record<Part, number> | null {
  const nodes = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    nodes.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stackOf = new Map<number, CallFrame[]>();
  const stack = (id: number) => {
    let s = stackOf.get(id);
    if (!s) {
      s = [];
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
        s.push(nodes.get(x)!.callFrame);
      }
      stackOf.set(id, s);
    }
    return s; // innermost first
  };
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) times.push(t += d);
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (stack(id).some(inWindow)) last = i;
  });
  if (last < 0) return null;
  const from = times[last] - windowMs * 1000;
  const ms = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  for (let i = last; i >= 0 && times[i] >= from; i--) {
    // A sample stands for the time until the next one.
    const dt = (times[i + 1] ?? times[i]) - times[i];
    ms[partOf(stack(profile.samples[i]))] += dt / 1000;
  }
  return ms;
}

/** The part of one sample's stack (innermost frame first). */
export function partOf(stack: CallFrame[]): Part {
  const leaf = stack[0]?.functionName;
  if (leaf === "(idle)") return "idle";
  if (leaf === "(garbage collector)") return "gc";
  for (const f of stack) {
    const p = appPart(f);
    if (p) return p;
  }
  for (const f of stack) {
    const p = runtimePart(f);
    if (p) return p;
  }
  return "runtime";
}
