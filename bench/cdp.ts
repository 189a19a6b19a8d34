/**
 * A minimal Chrome DevTools protocol client on a Deno process's inspector (`--inspect`), for
 * the memory scripts: method calls and heap snapshots.
 */

/** A connected inspector. */
export interface Inspector {
  /** Calls a CDP method; resolves with its result (or `{ error }`). */
  call(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** A heap snapshot, parsed. */
  // deno-lint-ignore no-explicit-any
  heapSnapshot(): Promise<any>;
  close(): void;
}

/** Connects to the first target of the inspector on `port` (127.0.0.1). */
export async function connectInspector(port: number): Promise<Inspector> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.onopen = r);
  let nextId = 1;
  let chunks: string[] = [];
  const pending = new Map<number, (r: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data));
    if (m.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(m.params.chunk);
    else if (m.id && pending.has(m.id)) pending.get(m.id)!(m.error ? { error: m.error } : m.result);
  };
  const call = (method: string, params = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    call,
    async heapSnapshot() {
      chunks = [];
      await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      const snap = JSON.parse(chunks.join(""));
      chunks = [];
      return snap;
    },
    close: () => ws.close(),
  };
}

/** Where each field of a parsed heap snapshot's flat `nodes` and `edges` arrays is. */
// deno-lint-ignore no-explicit-any
export function snapshotFields(snap: any) {
  const meta = snap.snapshot.meta;
  const nf: string[] = meta.node_fields, ef: string[] = meta.edge_fields;
  const [nType, nName, nId, nSize, nEdges] = ["type", "name", "id", "self_size", "edge_count"]
    .map((f) => nf.indexOf(f));
  const [eType, eName, eTo] = ["type", "name_or_index", "to_node"].map((f) => ef.indexOf(f));
  const [nodeTypes, edgeTypes]: string[][] = [meta.node_types[0], meta.edge_types[0]];
  const { nodes, edges, strings } = snap as { nodes: number[]; edges: number[]; strings: string[] };
  return {
    nf,
    ef,
    nType,
    nName,
    nId,
    nSize,
    nEdges,
    eType,
    eName,
    eTo,
    nodeTypes,
    edgeTypes,
    nodes,
    edges,
    strings,
  };
}
