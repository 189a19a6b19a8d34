/**
 * Load generator process for `bench/main.ts`: holds WebSocket clients for one system and
 * answers JSON-line commands on stdin with one JSON line each on stdout.
 *
 *   deno run -A bench/load.ts <http url> <sio|json> <slot> <slots>
 *
 * `sio` speaks socket.io v4 (engine.io 4) over a raw WebSocket, as `bench/socket_clients.ts`
 * does; `json` speaks the raw Deno baseline's JSON frames. Visitor `i` (email
 * `visitor<i>@example.com`) belongs to the process whose slot is `i % slots`.
 *
 * Commands:
 *   {cmd:"open", to}                 opens this slot's visitors below `to`, identifies them
 *                                    → {identified, failed, ms}
 *   {cmd:"collect"}                  → {lat: ms[], last: epoch ms} of user.update receipts since
 *                                    the last collect (latency = receipt - payload user.bench_sent)
 *   {cmd:"identify", from, count, concurrency}
 *                                    new sockets for known visitors: user.fetch → first
 *                                    user.update, then closed → {lat: ms[], failed}
 *   {cmd:"exit"}
 */
const [url, mode, slotArg, slotsArg] = Deno.args;
const slot = Number(slotArg ?? 0);
const slots = Number(slotsArg ?? 1);
const wsUrl = mode === "json"
  ? url.replace(/^http/, "ws") + "/ws"
  : url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
const now = () => performance.timeOrigin + performance.now();

const sockets: WebSocket[] = [];
let next = slot; // next visitor index this slot opens
let lat: number[] = [];
let last = 0;

function onUpdate(p: { user?: { bench_sent?: number } }, t: number) {
  const sent = p?.user?.bench_sent;
  if (typeof sent === "number") {
    lat.push(t - sent);
    if (t > last) last = t;
  }
}

/** Opens one client for visitor `i`; resolves when identified (rooms joined). */
function open(
  i: number,
  hold: boolean,
  onFirstUpdate?: (ms: number) => void,
): Promise<{ ok: boolean; ws: WebSocket }> {
  return new Promise((resolve) => {
    // deno-lint-ignore no-explicit-any
    const ws = new WebSocket(wsUrl, { headers: { origin: "http://localhost" } } as any);
    let done = false;
    let fetchAt = 0;
    let first = true;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      resolve({ ok, ws });
    };
    const fetchMsg = { claims: { email: `visitor${i}@example.com` } };
    const update = (p: unknown) => {
      const t = now();
      if (hold) onUpdate(p as { user?: { bench_sent?: number } }, t);
      if (first && onFirstUpdate) {
        first = false;
        onFirstUpdate(t - fetchAt);
      }
    };
    if (mode === "json") {
      ws.onopen = () => {
        fetchAt = now();
        ws.send(JSON.stringify({ t: "fetch", ...fetchMsg }));
      };
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data));
        if (m.t === "joined") finish(true);
        else if (m.t === "update") update(m.p);
      };
    } else {
      ws.onmessage = (e) => {
        const m = String(e.data);
        if (m.startsWith("42")) {
          if (m.startsWith('42["user.update"')) update(JSON.parse(m.slice(2))[1]);
          else if (m.startsWith('42["room.joined"')) finish(true);
        } else if (m === "2") ws.send("3");
        else if (m.startsWith("0{")) ws.send("40");
        else if (m.startsWith("40")) {
          fetchAt = now();
          ws.send(`42${JSON.stringify(["user.fetch", fetchMsg])}`);
        }
      };
    }
    ws.onerror = () => finish(false);
    ws.onclose = () => finish(false);
  });
}

async function openTo(to: number) {
  const started = performance.now();
  let identified = 0, failed = 0;
  const BATCH = 200;
  while (next < to) {
    const batch: Promise<{ ok: boolean; ws: WebSocket }>[] = [];
    for (; next < to && batch.length < BATCH; next += slots) batch.push(open(next, true));
    for (const r of await Promise.all(batch)) {
      sockets.push(r.ws);
      r.ok ? identified++ : failed++;
    }
  }
  return { identified, failed, ms: performance.now() - started };
}

async function identify(from: number, count: number, concurrency: number) {
  const out: number[] = [];
  let failed = 0;
  let i = 0;
  const worker = async () => {
    while (i < count) {
      const v = from + (i++) * slots + slot;
      const ws = await new Promise<WebSocket | null>((resolve) => {
        let sock: WebSocket | null = null;
        const timer = setTimeout(() => {
          failed++;
          resolve(sock);
        }, 5_000);
        open(v, false, (ms) => {
          clearTimeout(timer);
          out.push(ms);
          resolve(sock);
        }).then((r) => {
          sock = r.ws;
          if (!r.ok) {
            clearTimeout(timer);
            failed++;
            resolve(sock);
          }
        });
      });
      ws?.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { lat: out, failed };
}

const reply = (o: unknown) => console.log(JSON.stringify(o));
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const c = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    if (c.cmd === "open") reply(await openTo(c.to));
    else if (c.cmd === "collect") {
      reply({ lat, last });
      lat = [];
      last = 0;
    } else if (c.cmd === "identify") reply(await identify(c.from, c.count, c.concurrency));
    else if (c.cmd === "exit") {
      for (const ws of sockets) ws.close();
      Deno.exit(0);
    }
  }
}
Deno.exit(0);
