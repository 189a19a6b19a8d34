/**
 * The benchmark's processes and what it reads of them: servers started as child processes,
 * load-generator processes (bench/load.ts) spoken to over stdin/stdout, RSS and CPU from /proc.
 */
import { DENO, ROOT, sleep, SLOTS } from "./params.ts";

// ---------------------------------------------------------------- processes

export interface Proc {
  child: Deno.ChildProcess;
  pid: number;
  url: string;
  tail(): string;
  stop(): Promise<void>;
}

/** Spawns a server and resolves once it prints "listening on http://host:port". */
export async function spawnServer(cmd: string, args: string[], env: Record<string, string>) {
  const child = new Deno.Command(cmd, {
    args,
    env: { PORT: "0", ...env },
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The connector logs every event as a JSON line (three per pushed user): the harness shares
  // the cores with the server under test, so it keeps the output's last bytes as they come and
  // decodes them only while it waits for the port (or when a caller asks for the tail), instead
  // of decoding megabytes a second: ~0.14 ms of CPU per 100-user batch (78 KB of lines),
  // measured, which the silent baselines never cost the machine.
  const TAIL = 4000;
  const kept = new Uint8Array(TAIL * 2);
  let keptEnd = 0;
  let found: ((port: number) => void) | null;
  const listening = new Promise<number>((r) => found = r);
  const keep = (chunk: Uint8Array) => {
    if (chunk.length >= TAIL) {
      kept.set(chunk.subarray(chunk.length - TAIL));
      keptEnd = TAIL;
      return;
    }
    if (keptEnd + chunk.length > kept.length) {
      kept.copyWithin(0, keptEnd - TAIL, keptEnd);
      keptEnd = TAIL;
    }
    kept.set(chunk, keptEnd);
    keptEnd += chunk.length;
  };
  const tail = () => new TextDecoder().decode(kept.subarray(Math.max(0, keptEnd - TAIL), keptEnd));
  // BENCH_SERVER_LOG=<file>: also append all the server's output there (a diagnostic, e.g. V8's
  // --trace-gc lines, which the tail would lose; run the harness under `stdbuf -oL` so that V8's
  // buffered stdout reaches the file line by line).
  const logTo = Deno.env.get("BENCH_SERVER_LOG");
  const logFile = logTo ? await Deno.open(logTo, { append: true, create: true }) : null;
  const drain = async (s: ReadableStream<Uint8Array<ArrayBuffer>>) => {
    try {
      for await (const chunk of s) {
        keep(chunk);
        logFile?.writeSync(chunk);
        if (!found) continue;
        const m = tail().match(/listening on http:\/\/[^:]+:(\d+)/);
        if (m) {
          found(Number(m[1]));
          found = null;
        }
      }
    } catch { /* closed */ }
  };
  drain(child.stdout);
  drain(child.stderr);
  const port = await Promise.race([
    listening,
    sleep(60_000).then(() => 0),
    child.status.then(() => 0),
  ]);
  const proc: Proc = {
    child,
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    tail,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      logFile?.close();
    },
  };
  if (!port) {
    await proc.stop();
    throw new Error(`${cmd} ${args.join(" ")} did not start:\n${tail()}`);
  }
  return proc;
}

/** One load generator process (bench/load.ts), driven by JSON lines. */
export class Load {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(url: string, mode: "sio" | "json", slot: number, slots: number) {
    this.#child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        new URL("load.ts", import.meta.url).pathname,
        url,
        mode,
        `${slot}`,
        `${slots}`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }
  // deno-lint-ignore no-explicit-any
  async send(cmd: Record<string, unknown>): Promise<any> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    while (!this.#buf.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("load generator exited");
      this.#buf += value;
    }
    const nl = this.#buf.indexOf("\n");
    const line = this.#buf.slice(0, nl);
    this.#buf = this.#buf.slice(nl + 1);
    return JSON.parse(line);
  }
  async stop() {
    try {
      await this.send({ cmd: "exit" }).catch(() => {});
      await this.#writer.close().catch(() => {});
    } catch { /* gone */ }
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
  }
}

export const loadsFor = (url: string, mode: "sio" | "json") =>
  Array.from({ length: SLOTS }, (_, s) => new Load(url, mode, s, SLOTS));

export async function openTo(loads: Load[], to: number) {
  const t = performance.now();
  const r = await Promise.all(loads.map((l) => l.send({ cmd: "open", to })));
  return {
    identified: r.reduce((a, x) => a + x.identified, 0),
    failed: r.reduce((a, x) => a + x.failed, 0),
    seconds: (performance.now() - t) / 1000,
  };
}

export async function collect(loads: Load[]): Promise<{ lat: number[]; last: number }> {
  const r = await Promise.all(loads.map((l) => l.send({ cmd: "collect" })));
  return { lat: r.flatMap((x) => x.lat), last: Math.max(0, ...r.map((x) => x.last)) };
}

// ---------------------------------------------------------------- measures

export async function rssMB(pid: number): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(s.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
}

/** utime + stime of `pid`, in ms (every thread). */
export async function cpuMs(pid: number): Promise<number> {
  return await cpuTicks(pid) * 10; // clock ticks are 1/100 s
}

async function cpuTicks(pid: number): Promise<number> {
  return statTicks(await Deno.readTextFile(`/proc/${pid}/stat`));
}

/** utime + stime (fields 14, 15) of a process's or thread's `stat` text, in 1/100 s ticks. */
function statTicks(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** CPU use of `pid` over `seconds`, in % of one core (clock ticks are 1/100 s). */
export async function idleCpu(pid: number, seconds: number): Promise<number> {
  const a = await cpuTicks(pid);
  await sleep(seconds * 1000);
  return (await cpuTicks(pid) - a) / seconds;
}

/** utime + stime in ms of each thread of `pid` (by thread id), with its name. */
export async function threadCpu(pid: number): Promise<Map<string, { name: string; ms: number }>> {
  const out = new Map<string, { name: string; ms: number }>();
  for await (const e of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      const s = await Deno.readTextFile(`/proc/${pid}/task/${e.name}/stat`);
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      out.set(e.name, { name, ms: statTicks(s) * 10 });
    } catch { /* the thread ended */ }
  }
  return out;
}

/** CPU time the whole machine spent busy (every core, every process), in ms. */
export async function machineBusyMs(): Promise<number> {
  const cpu = (await Deno.readTextFile("/proc/stat")).split("\n")[0].split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq, steal] = cpu.map(Number);
  return (user + nice + system + irq + softirq + (steal || 0)) * 10; // 1/100 s ticks
}
