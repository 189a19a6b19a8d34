/**
 * Which webhooks this server can authenticate, from its configuration: shown on `/` and in the
 * dashboard, so that neither claims webhooks are authenticated when a sender's would be refused.
 */
import type { Config } from "../config.ts";

/** The webhook authentication methods in force. */
export interface WebhookAuthState {
  /** WEBHOOK_SECRET is set: `X-Hull-Browser-Signature` (HMAC) is checked. */
  hmac: boolean;
  /** HULL_PUBLIC_KEY is set: Hull's RS256 token is checked against it. */
  hullPinned: boolean;
  /** Hull's RS256 token may be checked with a key fetched from HULL_KEY_HOSTS. */
  hullFetched: boolean;
}

/** The webhook authentication state of `config`. */
export function webhookAuthState(
  config: Pick<Config, "webhookSecrets" | "hullPublicKey" | "hull">,
): WebhookAuthState {
  return {
    hmac: config.webhookSecrets.length > 0,
    hullPinned: config.hullPublicKey !== null,
    hullFetched: config.hull.keyHosts.length > 0,
  };
}
