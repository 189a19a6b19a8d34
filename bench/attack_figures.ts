/**
 * Replays the attack run's three measurable findings against one in-process server and prints
 * figures (issue 14): handshakes accepted from one IP with an empty `sid`, the time of a
 * 100-user webhook after 20,000 namespace attempts, and the rooms one connection can hold.
 *
 *   deno run -A bench/attack_figures.ts
 */
import { Manager, type Socket } from "socket.io-client";
import { freshFixture, startTestServer } from "./harness/server.ts";

const ORIGIN = "http://localhost:3000";
let t = await startTestServer();
const rssMb = () => Math.round(Deno.memoryUsage().rss / 1e6);

function settle(s: Socket, ms = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    s.once("connect", () => (clearTimeout(timer), resolve(true)));
    s.once("connect_error", () => (clearTimeout(timer), resolve(false)));
  });
}

// 1. Handshakes with an empty sid, polling, one IP, as fast as they go.
let accepted = 0;
for (let i = 0; i < 2_000; i++) {
  const res = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling&sid=`, {
    headers: { origin: ORIGIN },
  });
  await res.body?.cancel();
  if (res.status === 200) accepted++;
}
console.log(`empty-sid handshakes accepted from one IP: ${accepted} of 2,000`);

// The other two findings on a fresh server whose connection limit does not get in the way.
await t.close();
t = await startTestServer({ env: { LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "100000" } });

// 2. 20,000 namespace attempts from 10 connections, then they leave; then a 100-user webhook.
const batch = await freshFixture("user-update-batch-100.json");
async function webhookMs(): Promise<number> {
  const start = performance.now();
  const res = await t.postNotification({ ...batch, notification_id: crypto.randomUUID() });
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  return performance.now() - start;
}
await webhookMs(); // warm-up: the first batch creates every profile
const baseline = await webhookMs();
const rssBefore = rssMb();
let nspOk = 0;
for (let c = 0; c < 10; c++) {
  const m = new Manager(t.url, {
    transports: ["websocket"],
    reconnection: false,
    extraHeaders: { origin: ORIGIN },
  });
  const sockets: Socket[] = [];
  for (let i = 0; i < 2_000; i++) {
    sockets.push(m.socket("/" + (c * 2_000 + i + 1).toString(16).padStart(24, "0")));
  }
  nspOk += (await Promise.all(sockets.map((s) => settle(s)))).filter(Boolean).length;
  m._close();
}
await new Promise((r) => setTimeout(r, 500));
const nsps = (t.server.io as unknown as { _nsps: Map<string, unknown> })._nsps.size;
const ms = await webhookMs();
console.log(
  `namespace attempts: 20,000, accepted ${nspOk}, namespaces left after the attackers went: ` +
    `${nsps}; 100-user webhook ${baseline.toFixed(0)} ms before, ${ms.toFixed(0)} ms after; ` +
    `RSS ${rssBefore} → ${rssMb()} MB`,
);

// 3. Rooms held by one connection: 300 namespaces × 8 identifiers each.
const m = new Manager(t.url, {
  transports: ["websocket"],
  reconnection: false,
  extraHeaders: { origin: ORIGIN },
});
let rooms = 0;
for (let i = 0; i < 300; i++) {
  const s = m.socket(i ? "/" + (900_000 + i).toString(16).padStart(24, "0") : "/");
  if (!(await settle(s))) continue;
  const claims = Object.fromEntries(
    ["anonymous_id", "external_id", "email", "id"].map((k) => [k, `${k}-${i}@x.io`]),
  );
  const joined = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 2000);
    s.once("room.joined", () => (clearTimeout(timer), resolve(true)));
    s.once("close", () => (clearTimeout(timer), resolve(false)));
    s.emit("user.fetch", { claims });
  });
  if (joined) rooms += s.connected ? 4 : 0;
}
const health = await (await fetch(`${t.url}/healthz`)).json();
console.log(
  `rooms held by one connection (300 namespaces × 4 identifiers tried): ${rooms} ` +
    `(healthz: ${health.sockets} connection(s), rooms ${health.rooms ?? "not reported"})`,
);
m._close();
await t.close();
Deno.exit(0);
