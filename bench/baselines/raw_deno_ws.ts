/**
 * Baseline: the floor of what Deno does here. Deno.serve + Deno.upgradeWebSocket, an in-memory
 * map from identifier to sockets, JSON frames ({t:"fetch",claims} in; {t:"joined"} and
 * {t:"update",p} out), HMAC-checked webhooks on POST /smart-notifier.
 *   PORT=0 WEBHOOK_SECRET=… PUBLIC_TRAITS=email,name deno run -A raw_deno_ws.ts
 */
const SECRET = Deno.env.get("WEBHOOK_SECRET") ?? "";
const PUBLIC = (Deno.env.get("PUBLIC_TRAITS") ?? "email,name").split(",").filter(Boolean);
const enc = new TextEncoder();
const key = await crypto.subtle.importKey(
  "raw",
  enc.encode(SECRET),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);
const sockets = new Map<string, Set<WebSocket>>();
const profiles = new Map<string, string>(); // identifier → JSON frame

async function verify(header: string | null, raw: Uint8Array): Promise<boolean> {
  const parts = Object.fromEntries((header ?? "").split(",").map((p) => p.split("=")));
  if (!parts.t || !/^[0-9a-f]{64}$/.test(parts.v1 ?? "")) return false;
  const prefix = enc.encode(`${parts.t}.`);
  const data = new Uint8Array(prefix.length + raw.length);
  data.set(prefix);
  data.set(raw, prefix.length);
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(parts.v1.slice(i * 2, i * 2 + 2), 16);
  return await crypto.subtle.verify("HMAC", key, mac, data);
}

type User = { id: string; email?: string; external_id?: string; anonymous_ids?: string[] };
function roomsOf(user: User): string[] {
  const rooms = [`id:${user.id}`];
  if (user.email) rooms.push(`email:${user.email}`);
  if (user.external_id) rooms.push(`external_id:${user.external_id}`);
  for (const a of user.anonymous_ids ?? []) rooms.push(`anonymous_id:${a}`);
  return rooms;
}

function onSocket(ws: WebSocket) {
  const joined: string[] = [];
  ws.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(String(e.data));
    } catch {
      return ws.close();
    }
    if (m?.t !== "fetch") return;
    const c = m.claims ?? {};
    const ids = [];
    if (typeof c.email === "string") ids.push(`email:${c.email}`);
    if (typeof c.external_id === "string") ids.push(`external_id:${c.external_id}`);
    if (typeof c.anonymous_id === "string") ids.push(`anonymous_id:${c.anonymous_id}`);
    for (const id of ids) {
      let set = sockets.get(id);
      if (!set) sockets.set(id, set = new Set());
      set.add(ws);
      joined.push(id);
    }
    ws.send('{"t":"joined"}');
    for (const id of ids) {
      const p = profiles.get(id);
      if (p) {
        ws.send(p);
        break;
      }
    }
  };
  ws.onclose = () => {
    for (const id of joined) {
      const set = sockets.get(id);
      set?.delete(ws);
      if (set?.size === 0) sockets.delete(id);
    }
  };
}

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 0),
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`raw-deno-ws listening on http://127.0.0.1:${port}`),
}, async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/ws") {
    const { socket, response } = Deno.upgradeWebSocket(req);
    onSocket(socket);
    return response;
  }
  if (req.method !== "POST" || url.pathname !== "/smart-notifier") {
    return new Response(null, { status: 404 });
  }
  const raw = new Uint8Array(await req.arrayBuffer());
  if (!(await verify(req.headers.get("x-hull-browser-signature"), raw))) {
    return new Response('{"error":"bad signature"}', { status: 401 });
  }
  let body;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return new Response('{"error":"bad json"}', { status: 400 });
  }
  for (const m of body.messages ?? []) {
    const user: Record<string, unknown> = { id: m.user.id };
    for (const k of PUBLIC) if (k in m.user) user[k] = m.user[k];
    const frame = JSON.stringify({
      t: "update",
      p: {
        user,
        segments: (m.segments ?? []).map((s: { name: string }) => s.name),
        version: Date.now(),
      },
    });
    const sent = new Set<WebSocket>();
    for (const r of roomsOf(m.user)) {
      profiles.set(r, frame);
      for (const ws of sockets.get(r) ?? []) {
        if (sent.has(ws)) continue;
        sent.add(ws);
        if (ws.readyState === WebSocket.OPEN) ws.send(frame);
      }
    }
  }
  return new Response('{"flow_control":{"type":"next","size":100,"in":100}}', {
    headers: { "content-type": "application/json" },
  });
});
