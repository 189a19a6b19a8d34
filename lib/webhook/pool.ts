/**
 * The webhook workers of one instance, seen from the isolate that holds the sockets. Each
 * worker (Web Worker, its own isolate and thread) does a request's whole work: signature,
 * parsing, validation, profiles, room names, the store write, live-log lines. This isolate
 * hands it the raw body and headers, emits the pushes it sends back, records its counters and
 * answers Hull once the worker reports the request done. A worker's messages are handled in
 * the order it sent them, so its pushes leave before its answer, as without workers.
 */
import type { Config } from "../config.ts";
import type { MetricsSink } from "../metrics.ts";
import type { PublishOptions, Push } from "../types.ts";
import { errorAnswer } from "./answers.ts";
import {
  type FromWorker,
  type PooledAnswer,
  replay,
  type ToWorker,
  type WorkerCall,
  type WorkerInit,
} from "./worker_messages.ts";

export type { PooledAnswer, WorkerInit } from "./worker_messages.ts";

/** Works out the answers to requests elsewhere (the pool below). */
export interface WebhookRunner {
  answer(raw: Uint8Array, headers: Headers, receivedAt: number): Promise<PooledAnswer>;
}

/** What the pool needs from the instance. */
export interface PoolHost {
  /** Emits a worker's pushes; awaited before that worker's next message is handled. */
  publish(connectorId: string, pushes: Push[], opts?: PublishOptions): void | Promise<void>;
  metrics: MetricsSink;
}

/**
 * How many webhook workers an instance starts, and why none when some were asked for:
 * WEBHOOK_WORKERS, or by default one per core beyond the first, at most 4. A worker opens the
 * store itself, so only a store it can reach by name qualifies: Redis, or Deno KV at a file
 * (KV_PATH). Deno's default KV location is per main module, so a worker's would be another
 * database; an in-memory KV and a store handed in (tests) cannot be shared either. On Deno
 * Deploy an instance has about one core and KV_PATH is unset: none by default.
 */
export function poolSize(
  config: Pick<Config, "webhookWorkers" | "kvPath" | "redisUrl" | "instance">,
  storeHandedIn: boolean,
  cores: number,
): { size: number; refused?: string } {
  const { webhookWorkers: asked, kvPath, redisUrl } = config;
  const refused = storeHandedIn
    ? "the store was handed in"
    : redisUrl
    ? undefined
    : !kvPath
    ? "Deno KV at its default location cannot be opened by a worker (set KV_PATH to a file)"
    : kvPath === ":memory:"
    ? "an in-memory Deno KV cannot be shared"
    : undefined;
  if (refused) return asked ? { size: 0, refused } : { size: 0 };
  if (asked !== null) return { size: asked };
  const onDeploy = config.instance.startsWith("deploy-");
  return { size: onDeploy ? 0 : Math.min(Math.max(cores - 1, 0), 4) };
}

/** How long a worker may take to open its store and connectors. */
const START_TIMEOUT_MS = 30_000;

interface Member {
  worker: Worker;
  /** Requests (and flushes) handed to it, by id. */
  pending: Map<number, (a: PooledAnswer) => void>;
  /** The chain that handles this worker's messages one after the other. */
  queue: Promise<void>;
  /** Stopped by an error; its replacement is starting. */
  dead?: boolean;
  closed?: () => void;
}

/** The answer to requests whose worker died: Hull retries them. */
const workerLost = (): PooledAnswer => errorAnswer(500, "internal error");

/** A fixed-size pool of webhook workers; a worker that dies is replaced. */
export class WebhookPool implements WebhookRunner {
  #members: Member[] = [];
  #nextId = 1;
  #turn = 0;
  #closing = false;

  private constructor(
    private readonly url: URL,
    private readonly init: WorkerInit,
    private readonly host: PoolHost,
  ) {}

  /**
   * Starts `size` workers from the module at `url` and resolves once each has opened its
   * store; rejects (after stopping those started) when one cannot start.
   */
  static async start(
    url: URL,
    size: number,
    init: WorkerInit,
    host: PoolHost,
  ): Promise<WebhookPool> {
    const pool = new WebhookPool(url, init, host);
    try {
      pool.#members = await Promise.all(Array.from({ length: size }, (_, i) => pool.#spawn(i)));
    } catch (err) {
      for (const m of pool.#members) m.worker.terminate();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.#members.length;
  }

  /** Hands a request to the worker with the fewest requests in flight. */
  answer(raw: Uint8Array, headers: Headers, receivedAt: number): Promise<PooledAnswer> {
    const m = this.#pick();
    // Every worker is being replaced: Hull retries a 503 a little later.
    if (!m) return Promise.resolve(errorAnswer(503, "the webhook workers are restarting"));
    const id = this.#nextId++;
    return new Promise((resolve) => {
      m.pending.set(id, resolve);
      const whole = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
      const message: ToWorker = {
        t: "webhook",
        id,
        raw,
        headers: [...headers],
        receivedAt: performance.timeOrigin + receivedAt,
      };
      // The body is moved, not copied, when it is a buffer of its own.
      m.worker.postMessage(message, whole ? [raw.buffer as ArrayBuffer] : []);
    });
  }

  /**
   * Has every worker write what it holds back (live-log entries, names seen) to the store now,
   * as the instance's own parts do on shutdown; for tests and tools that read the store.
   */
  flush(): Promise<void> {
    return this.#callAll("flush");
  }

  /**
   * Has every worker open and close connectors as the registry says now: called before this
   * instance clears a removed connector's scope, so no worker writes into it afterwards.
   */
  sync(): Promise<void> {
    return this.#callAll("sync");
  }

  /**
   * Has every worker read connector `connectorId`'s settings again: the dashboard awaits it
   * after a change, so the next webhook is applied with them.
   */
  reload(connectorId: string): Promise<void> {
    return this.#callAll("reload", connectorId);
  }

  async #callAll(op: WorkerCall, connectorId?: string): Promise<void> {
    if (this.#closing) return;
    await Promise.all(
      this.#members.filter((m) => !m.dead).map((m) =>
        new Promise<void>((resolve) => {
          const id = this.#nextId++;
          m.pending.set(id, () => resolve());
          m.worker.postMessage({ t: "call", id, op, connectorId } satisfies ToWorker);
        })
      ),
    );
  }

  /** Lets each worker close its connectors, live logs and store, then stops it (bounded). */
  async close(ms = 3_000): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#members.map(async (m) => {
      const closed = new Promise<void>((resolve) => m.closed = resolve);
      m.worker.postMessage({ t: "close" } satisfies ToWorker);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([closed, new Promise((r) => timer = setTimeout(r, ms))]);
      clearTimeout(timer);
      m.worker.terminate();
      for (const resolve of m.pending.values()) resolve(workerLost());
    }));
  }

  #pick(): Member | undefined {
    const live = this.#members.filter((m) => !m.dead);
    let best = live[this.#turn++ % live.length];
    for (const m of live) if (m.pending.size < best.pending.size) best = m;
    return best;
  }

  #spawn(index: number): Promise<Member> {
    const worker = new Worker(this.url, { type: "module", name: `webhook-${index + 1}` });
    const m: Member = { worker, pending: new Map(), queue: Promise.resolve() };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.terminate();
        reject(new Error(`webhook worker ${index + 1} did not start in ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const msg = e.data;
        if (msg.t === "ready" || msg.t === "failed") {
          clearTimeout(timer);
          if (msg.t === "ready") resolve(m);
          else {
            worker.terminate();
            reject(new Error(`webhook worker ${index + 1}: ${msg.message}`));
          }
          return;
        }
        m.queue = m.queue.then(() => this.#handle(m, msg)).catch((err) => {
          console.error("webhook worker: could not handle a message:", err);
        });
      };
      worker.onerror = (e) => {
        // An error the worker did not catch is a bug: its requests get a 500 (Hull retries
        // them) and a fresh worker takes its place.
        e.preventDefault();
        console.error(`webhook worker ${index + 1} stopped: ${e.message}`);
        clearTimeout(timer);
        m.dead = true;
        worker.terminate();
        for (const done of m.pending.values()) done(workerLost());
        m.pending.clear();
        reject(new Error(`webhook worker ${index + 1}: ${e.message}`));
        if (!this.#closing) this.#replace(m, index);
      };
      worker.postMessage({ t: "init", init: this.init } satisfies ToWorker);
    });
  }

  /** Starts a worker in `dead`'s place; one that cannot start (store down) is tried again. */
  #replace(dead: Member, index: number, retryMs = 1_000): void {
    const at = this.#members.indexOf(dead);
    if (at < 0 || this.#closing) return;
    this.#spawn(index).then((m) => {
      if (this.#closing) m.worker.terminate();
      else this.#members[at] = m;
    }).catch((err) => {
      console.error(`webhook worker ${index + 1}: ${err.message}; trying again`);
      const timer = setTimeout(
        () => this.#replace(dead, index, Math.min(retryMs * 2, 30_000)),
        retryMs,
      );
      Deno.unrefTimer(timer);
    });
  }

  async #handle(m: Member, msg: FromWorker): Promise<void> {
    switch (msg.t) {
      case "publish":
        return await this.host.publish(msg.connectorId, msg.pushes, msg.opts);
      case "metric":
        return replay(this.host.metrics, msg.call);
      case "answer":
      case "done": {
        const done = m.pending.get(msg.id);
        m.pending.delete(msg.id);
        return done?.(msg.t === "answer" ? msg.answer : workerLost());
      }
      case "closed":
        return m.closed?.();
    }
  }
}
