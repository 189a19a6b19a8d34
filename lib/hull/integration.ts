/**
 * What a verified notification means beyond its users, when the connector is installed in
 * Hull: whether a Hull-signed body may act for the connector this deployment is bound to (the
 * rule is connector_binding.ts; a refusal is logged), the settings Hull manages
 * (`connector.private_settings`), and the credentials of the bound connector. HMAC-signed
 * webhooks address the standalone connector: they never meet the binding and never change
 * Hull credentials.
 */
import type { EventLog } from "../events.ts";
import type { HullNotification } from "../types.ts";
import {
  type Binding,
  type BindingPolicy,
  type ConnectorRegistry,
  decideBinding,
  type RegisteredConnector,
} from "./connector_binding.ts";
import type { HullCredentials } from "./credentials.ts";
import { hullSettingsOf, type HullSettingsSync } from "./settings_sync.ts";
import type { HullStatus } from "./status.ts";

export interface HullIntegrationDeps {
  credentials: HullCredentials;
  settings: HullSettingsSync;
  events: EventLog;
  policy: BindingPolicy;
  /** Notes each notification of the bound connector, for the status Hull shows. */
  status?: HullStatus;
}

/** Applies the Hull-specific parts of verified notifications. */
export class HullIntegration {
  constructor(private readonly deps: HullIntegrationDeps) {}

  /** The rules deciding which connector may bind (for the dashboard). */
  get policy(): BindingPolicy {
    return this.deps.policy;
  }

  /**
   * What a Hull-signed `body` may do (connector_binding.ts). Decided from the body alone, before
   * its token is checked, so a body that could change nothing here costs no key fetch; a
   * refusal is logged (without any secret). Throws when the store fails.
   */
  async authorize(body: unknown): Promise<Binding> {
    let verdict = decideBinding(
      body,
      listOf(await this.deps.credentials.registered()),
      this.policy,
    );
    // Registering is decided on the store's current state, not this instance's copy of it.
    if (verdict.ok && !verdict.known) {
      verdict = decideBinding(
        body,
        listOf(await this.deps.credentials.registered(true)),
        this.policy,
      );
    }
    // A refusal is logged with every other refused webhook, by the endpoint.
    return verdict;
  }

  /** True when `id` is a connector this deployment is bound to (its namespace is admitted). */
  async isRegistered(id: string): Promise<boolean> {
    const bound = await this.deps.credentials.registered();
    return bound !== null && bound.id.toLowerCase() === id.toLowerCase();
  }

  /**
   * Applies the settings present in `connector.private_settings` (and `settings.script`), and keeps the credentials of
   * `binding` (a Hull-signed body whose binding was allowed; null for HMAC-signed webhooks,
   * which never change Hull credentials). Writes only what changed; `beforeWrite` runs before
   * any write and may throw to stop it. Throws when the store fails.
   */
  async apply(
    n: HullNotification,
    binding: Binding | null,
    beforeWrite?: () => Promise<void>,
  ): Promise<void> {
    if (binding && !binding.ok) return;
    await this.deps.settings.apply(hullSettingsOf(n.connector), beforeWrite);
    if (binding) {
      await this.deps.credentials.save(binding.connection, beforeWrite);
      this.deps.status?.notification();
    }
  }
}

/** The registry view of the one connector a deployment is bound to. */
function listOf(bound: RegisteredConnector | null): ConnectorRegistry {
  return {
    lookup: (id) => (bound && bound.id === id ? bound : null),
    ids: () => (bound ? [bound.id] : []),
  };
}
