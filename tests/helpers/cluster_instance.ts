/**
 * Test helper: a connector instance running in a Web Worker (its own isolate, server and
 * `Deno.openKv` handle on a KV file shared with the other workers; bench/harness/cluster_worker.ts),
 * with signed webhooks and socket.io clients.
 */
import { io as ioClient, type Socket } from "socket.io-client";
import type { KvAdapterOptions } from "../../lib/cluster/kv_adapter.ts";
import type { Command, StartMessage } from "../../bench/harness/cluster_worker.ts";
import { postSigned } from "./server.ts";

const ORIGIN = "http://localhost:3000";

export type Reply = { id: number; result?: unknown; error?: string };

/** One connector instance running in a Worker. */
export class Instance {
  #worker: Worker;
  #next = 1;
  #pending = new Map<number, (r: Reply) => void>();
  #sockets: Socket[] = [];

  private constructor(worker: Worker, readonly url: string) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<Reply>) => this.#pending.get(e.data.id)?.(e.data);
  }

  static async start(
    kvPath: string,
    env: Record<string, string>,
    kvAdapter: KvAdapterOptions,
  ): Promise<Instance> {
    const worker = new Worker(new URL("../../bench/harness/cluster_worker.ts", import.meta.url), {
      type: "module",
    });
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("worker did not start in 60 s")), 60_000);
      worker.onerror = (e) => {
        clearTimeout(t);
        e.preventDefault();
        reject(new Error(`worker failed: ${e.message}`));
      };
      worker.onmessage = (e) => {
        clearTimeout(t);
        resolve(e.data.port);
      };
      const start: StartMessage = { cmd: "start", kvPath, env, kvAdapter };
      worker.postMessage(start);
    });
    return new Instance(worker, `http://127.0.0.1:${port}`);
  }

  call<T>(cmd: Omit<Command, "id">, ms = 15_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${cmd.cmd}: no answer in ${ms} ms`)), ms);
      this.#pending.set(id, (r) => {
        clearTimeout(t);
        this.#pending.delete(id);
        if (r.error) reject(new Error(r.error));
        else resolve(r.result as T);
      });
      this.#worker.postMessage({ ...cmd, id });
    });
  }

  async post(body: unknown): Promise<Response> {
    const res = await postSigned(this.url, body);
    await res.body?.cancel();
    return res;
  }

  /** Connects and resolves once connected. */
  async connect(namespace = ""): Promise<Socket> {
    const s = ioClient(this.url + namespace, {
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      extraHeaders: { origin: ORIGIN },
    });
    this.#sockets.push(s);
    await waitEvent(s, "connect");
    return s;
  }

  /** Connects, sends `user.fetch` and resolves once the rooms are joined. */
  async identify(claims: Record<string, unknown>, namespace = ""): Promise<Socket> {
    const s = await this.connect(namespace);
    const joined = waitEvent(s, "room.joined");
    s.emit("user.fetch", { claims });
    await joined;
    return s;
  }

  closeSockets(): void {
    this.#sockets.forEach((s) => s.close());
    this.#sockets = [];
  }

  async stop(): Promise<void> {
    this.closeSockets();
    await this.call({ cmd: "close" }).catch(() => {});
    this.#worker.terminate();
  }

  terminate(): void {
    this.closeSockets();
    this.#worker.terminate();
  }
}

export function waitEvent<T>(s: Socket, event: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    s.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}
