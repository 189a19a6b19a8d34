/**
 * Two connector instances as Web Workers of this one process, sharing a Deno KV file through
 * the KV cluster adapter (kv.watch does not cross processes). Reuses
 * bench/harness/cluster_worker.ts. Prints {"ports":[a,b]} once both listen; closes both when
 * stdin closes.
 *
 *   deno run -A bench/kv_cluster.ts '<env as JSON>'
 */
import type { StartMessage } from "./harness/cluster_worker.ts";

const env = JSON.parse(Deno.args[0] ?? "{}");
const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
const workers: Worker[] = [];
const ports: number[] = [];
for (let i = 0; i < 2; i++) {
  const w = new Worker(new URL("./harness/cluster_worker.ts", import.meta.url), {
    type: "module",
  });
  workers.push(w);
  ports.push(
    await new Promise<number>((resolve) => {
      w.onmessage = (e) => resolve(e.data.port);
      const start: StartMessage = {
        cmd: "start",
        kvPath,
        env: { ...env, INSTANCE_NAME: `kv-${i}` },
      };
      w.postMessage(start);
    }),
  );
}
console.log(JSON.stringify({ ports, pid: Deno.pid }));
for await (const _ of Deno.stdin.readable) { /* hold */ }
await Promise.all(workers.map((w) =>
  new Promise<void>((resolve) => {
    w.onmessage = () => resolve();
    w.postMessage({ id: 1, cmd: "close" });
    setTimeout(resolve, 3_000);
  })
));
for (const w of workers) w.terminate();
await Deno.remove(kvPath).catch(() => {});
Deno.exit(0);
