/**
 * The answers of the smart-notifier endpoint, as Hull's own connectors give them: 200 with
 * `flow_control` "next", and every error with `flow_control` "retry" (plus Retry-After on 429
 * and 503).
 */
import { OUTAGE_MESSAGE, RETRY_AFTER_S } from "../store/outage.ts";
import type { ConnectorDeps } from "./apply.ts";

/** Hull's smart-notifier answer: "send me the next batch". */
export const FLOW_CONTROL = {
  flow_control: { type: "next", size: 100, in: 100 },
  metrics: [],
  errors: [],
};

export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Seconds for the `Retry-After` header (429 and 503 answers). */
  retryAfter?: number;
  /** The connector the answer is about (its live log gets the refusal); none: the standalone. */
  connector?: ConnectorDeps;
  /** Not logged (a refusal of a burst already reported). */
  quiet?: boolean;
}

/**
 * An error answer. Every one carries `flow_control` of type "retry", as Hull's own connectors
 * answer a batch they did not take; `in` (ms) is the `Retry-After` of a 503.
 */
export const errorAnswer = (status: number, error: string): WebhookAnswer => ({
  status,
  body: {
    error,
    flow_control: { type: "retry", size: FLOW_CONTROL.flow_control.size, in: RETRY_AFTER_S * 1000 },
  },
  ...(status === 503 || status === 429 ? { retryAfter: RETRY_AFTER_S } : {}),
});
/** The store did not answer: Hull retries a 503 later (and nothing was applied). */
export const unavailable = (): WebhookAnswer => errorAnswer(503, OUTAGE_MESSAGE);
