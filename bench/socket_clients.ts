/**
 * Load generator: opens N raw WebSocket clients speaking socket.io v4 (engine.io 4) to a
 * connector and identifies each with its own email. Runs as its own process (a process may
 * hold ~20,000 descriptors here), prints one JSON line when all are identified, then holds
 * the connections until stdin closes.
 *
 *   deno run -A bench/socket_clients.ts <url> <count> <offset>
 */
const [url, countArg, offsetArg] = Deno.args;
const count = Number(countArg ?? 1000);
const offset = Number(offsetArg ?? 0);
const wsUrl = url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";

let identified = 0;
let failed = 0;
const started = performance.now();
const sockets: WebSocket[] = [];

function open(i: number): Promise<void> {
  return new Promise((resolve) => {
    // deno-lint-ignore no-explicit-any
    const ws = new WebSocket(wsUrl, { headers: { origin: "http://localhost" } } as any);
    sockets.push(ws);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      ok ? identified++ : failed++;
      resolve();
    };
    ws.onmessage = (e) => {
      const m = String(e.data);
      if (m.startsWith("0{")) ws.send("40");
      else if (m.startsWith("40")) {
        ws.send(`42["user.fetch",{"claims":{"email":"visitor${offset + i}@example.com"}}]`);
      } else if (m.startsWith('42["room.joined"')) finish(true);
      else if (m === "2") ws.send("3");
    };
    ws.onerror = () => finish(false);
    ws.onclose = () => finish(false);
  });
}

const BATCH = 250;
for (let i = 0; i < count; i += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => open(i + j)));
}
console.log(JSON.stringify({ identified, failed, seconds: (performance.now() - started) / 1000 }));
// Hold until the parent closes our stdin.
for await (const _ of Deno.stdin.readable) { /* wait */ }
for (const ws of sockets) ws.close();
