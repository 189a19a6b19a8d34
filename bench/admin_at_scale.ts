/**
 * How the dashboard behaves with many connected sockets: starts the connector (its own
 * process), connects N identified visitors from client processes, then times the admin pages
 * and reports the server's memory. Prints a markdown table.
 *
 *   deno run -A bench/admin_at_scale.ts [N=19500]
 *
 * One process may hold about 20,000 descriptors on our machines, hence 19,500 rather than
 * 20,000 sockets for the single server process.
 */
import { bootMain } from "./harness/process.ts";

const N = Number(Deno.args[0] ?? 19_500);
const PASSWORD = "bench-password";
const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
const server = await bootMain({
  KV_PATH: kvPath,
  SECRET: "bench-secret-0123456789abcdef",
  ADMIN_PASSWORD: PASSWORD,
  WHITELISTED_DOMAINS: "localhost",
  LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "1000000",
});
const rss = async () => {
  const status = await Deno.readTextFile(`/proc/${server.child.pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
};
const idleRss = await rss();

const PER_PROCESS = 9_750;
const clients: Deno.ChildProcess[] = [];
const connectStart = performance.now();
const results = await Promise.all(
  Array.from({ length: Math.ceil(N / PER_PROCESS) }, async (_, p) => {
    const n = Math.min(PER_PROCESS, N - p * PER_PROCESS);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("socket_clients.ts", import.meta.url).pathname,
        server.url,
        String(n),
        String(p * PER_PROCESS),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    clients.push(child);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) out += (await reader.read()).value ?? "";
    return JSON.parse(out) as { identified: number; failed: number; seconds: number };
  }),
);
const connectSeconds = (performance.now() - connectStart) / 1000;
const identified = results.reduce((a, r) => a + r.identified, 0);
const loadedRss = await rss();

const login = await fetch(`${server.url}/admin/login`, {
  method: "POST",
  body: new URLSearchParams({ password: PASSWORD }),
  redirect: "manual",
});
await login.body?.cancel();
const cookie = login.headers.get("set-cookie")!.split(";")[0];

async function time(path: string): Promise<{ ms: number; bytes: number; status: number }> {
  const runs: number[] = [];
  let bytes = 0, status = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const res = await fetch(`${server.url}${path}`, { headers: { cookie } });
    bytes = (await res.arrayBuffer()).byteLength;
    status = res.status;
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  return { ms: runs[2], bytes, status };
}

const pages = [
  "/admin",
  "/admin/api/stats",
  "/admin/rooms",
  "/admin/rooms?page=300",
  "/admin/rooms?q=visitor12345%40example.com",
  "/admin/domains",
  "/admin/log",
  "/admin/preview?type=email&value=visitor1%40example.com",
];
const rows: string[] = [];
for (const p of pages) {
  const r = await time(p);
  rows.push(
    `| \`${p}\` | ${r.status} | ${r.ms.toFixed(0)} ms | ${(r.bytes / 1024).toFixed(1)} KB |`,
  );
}

console.log(
  `\n### Dashboard with ${identified.toLocaleString("en-US")} identified sockets on one instance\n`,
);
console.log(
  `Connected and identified in ${connectSeconds.toFixed(1)} s (${
    results.map((r) => r.failed).reduce((a, b) => a + b, 0)
  } failed).`,
);
console.log(
  `Server RSS: ${idleRss.toFixed(0)} MB idle → ${loadedRss.toFixed(0)} MB loaded (${
    ((loadedRss - idleRss) * 1024 / Math.max(1, identified)).toFixed(1)
  } KB per socket).\n`,
);
console.log("| page | status | median of 5 | size |\n|---|---|---|---|");
for (const r of rows) console.log(r);

for (const c of clients) {
  await c.stdin.close();
  await c.status;
}
server.child.kill("SIGTERM");
await server.child.status;
