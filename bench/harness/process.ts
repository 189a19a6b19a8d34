/**
 * Test helper: `main.ts` as a real child process, plus a tiny TCP load balancer standing in
 * for the one in front of a self-hosted deployment.
 */
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface MainProcess {
  child: Deno.ChildProcess;
  url: string;
  port: number;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
}

/**
 * Spawns `deno run <flags> main.ts` with `env` and resolves once it listens. `flags` are the
 * permission flags, `-A` unless given (the Deploy-like test narrows them).
 */
export async function bootMain(
  env: Record<string, string>,
  flags: string[] = ["-A"],
): Promise<MainProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN],
    env: { PORT: "0", BIND_ADDRESS: "127.0.0.1", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (m) {
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value;
        } catch { /* closed */ }
      })();
      const port = Number(m[1]);
      return { child, port, url: `http://127.0.0.1:${port}`, stdout: () => out };
    }
  }
  try {
    child.kill();
  } catch { /* exited */ }
  const err = await new Response(child.stderr).text().catch(() => "");
  throw new Error(`server did not start:\n${out}\n${err}`);
}

/**
 * A TCP balancer on 127.0.0.1: each connection goes to the first of `targets()` that accepts,
 * like a load balancer whose health check dropped an evicted instance.
 */
export function startBalancer(targets: () => number[]): { url: string; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const handle = async (conn: Deno.Conn) => {
    open.add(conn);
    for (const port of targets()) {
      try {
        const up = await Deno.connect({ hostname: "127.0.0.1", port });
        open.add(up);
        const done = () => {
          for (const c of [conn, up]) {
            try {
              c.close();
            } catch { /* closed */ }
            open.delete(c);
          }
        };
        conn.readable.pipeTo(up.writable).catch(() => {}).finally(done);
        up.readable.pipeTo(conn.writable).catch(() => {}).finally(done);
        return;
      } catch { /* next target */ }
    }
    conn.close();
    open.delete(conn);
  };
  (async () => {
    try {
      for await (const conn of listener) handle(conn);
    } catch { /* closed */ }
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
