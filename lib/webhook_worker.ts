/**
 * Entry of a webhook worker (lib/webhook/pool.ts): the part of an instance that does a
 * webhook's work, in an isolate of its own. It opens its own handle on the instance's store
 * (the same Deno KV file, or Redis), every connector's parts (lib/instance_parts.ts) and the
 * webhook endpoint's dependencies; it sends back each request's answer, its pushes and its
 * counters. It never holds a socket, and never fetches profiles or serves the dashboard.
 */
/// <reference lib="deno.worker" />
import { createHullShared } from "./hull/services.ts";
import { IdentifierHasher } from "./identity.ts";
import { drain, openConnectors, webhookParts } from "./instance_parts.ts";
import { openStore } from "./store/factory.ts";
import { answerWebhook, errorAnswer, type WebhookDeps } from "./webhook/endpoint.ts";
import { ConnectorLimit } from "./webhook/connector_limit.ts";
import { STANDALONE_ID } from "./connector/directory.ts";
import {
  forwardedMetrics,
  type FromWorker,
  type PooledAnswer,
  type ToWorker,
  type WorkerInit,
} from "./webhook/worker_messages.ts";
import { SeenTracker } from "./webhook/seen.ts";
import { importHullPublicKey } from "./webhook/signature.ts";

const send = (message: FromWorker) => self.postMessage(message);

/** What a started worker holds. */
interface Running {
  webhook: WebhookDeps;
  /** The revision of each open connector's config in force (LiveConfig.revision). */
  revisions(): Map<string, number>;
  /** Writes the live-log entries and names seen held back to the store. */
  flush(): Promise<void>;
  /** Opens and closes connectors as the registry says now. */
  sync(): Promise<void>;
  /** Reads a connector's settings and whitelist again. */
  reload(connectorId?: string): Promise<void>;
  close(): Promise<void>;
}

/** Opens the store and the connectors' parts with the instance's configuration. */
async function start(init: WorkerInit): Promise<Running> {
  const { config, secret } = init;
  const store = await openStore(config);
  const hasher = await IdentifierHasher.create(secret);
  const metrics = forwardedMetrics((call) => send({ t: "metric", call }));
  const hullShared = createHullShared({
    config,
    caCerts: init.hullCaCerts,
    keyTimeoutMs: init.hullKeyTimeoutMs,
  });
  const limit = new ConnectorLimit();
  const connectors = await openConnectors(store, {
    config,
    secret,
    hasher,
    counters: metrics,
    hullShared,
    stdoutLog: init.stdoutLog,
    webhookLimit: limit,
  });
  const inflight = new Set<Promise<unknown>>();
  const { webhook, flushSeen } = webhookParts({
    config,
    connectors,
    hasher,
    hullShared,
    hullPublicKey: config.hullPublicKey ? await importHullPublicKey(config.hullPublicKey) : null,
    metrics,
    seen: new SeenTracker(),
    // The instance emits, after counting its live peers itself (it holds the bus).
    publisherFor: (connectorId) => (pushes, opts) =>
      send({ t: "publish", connectorId, pushes, opts }),
    limit,
    inflight,
  });
  const seenTimer = setInterval(flushSeen, 3_000);
  return {
    webhook,
    revisions: () => new Map(connectors.allNow().map((c) => [c.id, c.live.revision])),
    async flush() {
      await Promise.all(connectors.allNow().map((c) => c.events.flush()));
      await flushSeen();
    },
    sync: () => connectors.sync(),
    async reload(id) {
      const c = id === STANDALONE_ID ? connectors.standalone : connectors.openNow(id ?? "");
      if (c) c.live.apply(await c.store.getConfig());
    },
    async close() {
      clearInterval(seenTimer);
      // As the instance's own shutdown: requests in flight finish, at most 4 s.
      await drain(inflight, 4_000);
      await flushSeen();
      await connectors.close();
      hullShared.close();
      await store.close();
    },
  };
}

/** Answers one request; the instance has the connector it names by id. */
async function handle(
  running: Running,
  msg: ToWorker & { t: "webhook" },
): Promise<PooledAnswer> {
  const { webhook } = running;
  // The request's arrival, on this isolate's clock (latencies count from it).
  const receivedAt = msg.receivedAt - performance.timeOrigin;
  const before = running.revisions();
  const work = answerWebhook(msg.raw, new Headers(msg.headers), webhook, receivedAt);
  webhook.inflight!.add(work);
  try {
    const { connector, ...answer } = await work.catch((err) => {
      console.error("smart-notifier: unexpected error:", err);
      return errorAnswer(500, "internal error");
    });
    if (!connector?.connectorId) return answer;
    const id = connector.connectorId;
    // Settings from Hull applied here: the instance reloads its copy before Hull gets the
    // answer, as it would have applied them itself without workers.
    const was = before.get(id);
    const configChanged = was !== undefined && running.revisions().get(id) !== was;
    return { ...answer, connectorId: id, ...(configChanged ? { configChanged } : {}) };
  } finally {
    webhook.inflight!.delete(work);
  }
}

let running: Promise<Running> | null = null;

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.t === "init") {
    running = start(msg.init);
    running.then(() => send({ t: "ready" }), (err) => send({ t: "failed", message: String(err) }));
  } else if (msg.t === "webhook") {
    const answer = await handle(await running!, msg);
    send({ t: "answer", id: msg.id, answer });
  } else if (msg.t === "call") {
    const worker = await running!;
    await worker[msg.op](msg.connectorId).catch((err) =>
      console.error(`webhook worker ${msg.op}:`, err)
    );
    send({ t: "done", id: msg.id });
  } else if (msg.t === "close") {
    await (await running!).close().catch((err) => console.error("webhook worker close:", err));
    send({ t: "closed" });
  }
};
