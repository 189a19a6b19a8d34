/**
 * The messages between the isolate holding the sockets and its webhook workers (pool.ts, and
 * lib/webhook_worker.ts on the other side): what a worker starts with, a request and its
 * answer, the pushes and counters a worker sends, and the calls the instance makes of every
 * worker. Everything here is structured-cloned across isolates.
 */
import type { Config } from "../config.ts";
import type { MetricsSink } from "../metrics.ts";
import type { PublishOptions, Push } from "../types.ts";
import type { WebhookAnswer } from "./answers.ts";

/** A worker's answer to one request, with the connector it is about named by id. */
export type PooledAnswer = Omit<WebhookAnswer, "connector"> & {
  connectorId?: string;
  /** The connector's settings or whitelist changed in the worker while it applied the request. */
  configChanged?: boolean;
};

/** What a worker starts with (structured-cloned into it). */
export interface WorkerInit {
  config: Config;
  /** The server secret in force (generated and stored when SECRET is unset). */
  secret: string;
  stdoutLog: boolean;
  hullCaCerts?: string[];
  hullKeyTimeoutMs?: number;
}

/** A metric recorded in a worker, replayed on the instance's Metrics. */
export type MetricCall =
  | { op: "inc"; name: string; by?: number }
  | { op: "pushed"; n?: number }
  | { op: "latency"; ms: number; at?: number; n?: number };

/** Messages from a worker. */
export type FromWorker =
  | { t: "ready" }
  | { t: "failed"; message: string }
  | { t: "answer"; id: number; answer: PooledAnswer }
  | { t: "publish"; connectorId: string; pushes: Push[]; opts?: PublishOptions }
  | { t: "metric"; call: MetricCall }
  | { t: "done"; id: number }
  | { t: "closed" };

/**
 * What the instance may ask of every worker: `flush` writes what it holds back (live-log
 * entries, names seen) to the store; `sync` opens and closes connectors as the registry now
 * says (a removal: the worker lets go of the connector, then clears its scope again); `reload`
 * reads connector `connectorId`'s settings and whitelist again (the dashboard changed them).
 */
export type WorkerCall = "flush" | "sync" | "reload";

/** Messages to a worker. `receivedAt` is a wall-clock time (ms, with fractions). */
export type ToWorker =
  | { t: "init"; init: WorkerInit }
  | { t: "webhook"; id: number; raw: Uint8Array; headers: [string, string][]; receivedAt: number }
  | { t: "call"; id: number; op: WorkerCall; connectorId?: string }
  | { t: "close" };

/** Replays a worker's metric call on the instance's metrics. */
export function replay(metrics: MetricsSink, call: MetricCall): void {
  if (call.op === "inc") metrics.inc(call.name, call.by);
  else if (call.op === "pushed") metrics.pushed(call.n);
  else metrics.latency(call.ms, call.at, call.n);
}

/** The metrics of a worker: each call becomes a message to the instance (`replay` above). */
export function forwardedMetrics(send: (call: MetricCall) => void): MetricsSink {
  return {
    inc: (name, by) => send({ op: "inc", name, by }),
    pushed: (n) => send({ op: "pushed", n }),
    latency: (ms, at, n) => send({ op: "latency", ms, at, n }),
  };
}
