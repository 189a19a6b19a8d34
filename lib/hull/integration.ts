/**
 * What a verified notification means for one connector beyond its users: the settings Hull
 * manages (`connector.private_settings`), and, for a Hull-signed body admitted by the binding
 * rule (registry.ts, connector_binding.ts), the connector's credentials, its name and the time
 * of its last notification. HMAC-signed webhooks address the standalone connector: they never
 * change Hull credentials.
 */
import type { EventLog } from "../events.ts";
import type { HullNotification } from "../types.ts";
import { isObject } from "../types.ts";
import type { Binding, BindingPolicy } from "./connector_binding.ts";
import type { HullCredentials } from "./credentials.ts";
import { hullSettingsOf, type HullSettingsSync } from "./settings_sync.ts";
import type { HullStatus } from "./status.ts";

export interface HullIntegrationDeps {
  credentials: HullCredentials;
  settings: HullSettingsSync;
  events: EventLog;
  policy: BindingPolicy;
  /** Notes each notification of the connector, for the status Hull shows. */
  status?: HullStatus;
}

/** Longest connector name kept (characters). */
export const MAX_NAME_LENGTH = 100;

/** Hull's name of the connector (`connector.name`), trimmed and bounded; null: none. */
export function connectorName(connector: unknown): string | null {
  const name = isObject(connector) ? connector.name : undefined;
  if (typeof name !== "string") return null;
  // Control characters would garble the dashboard's table and the logs.
  // deno-lint-ignore no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return clean ? clean.slice(0, MAX_NAME_LENGTH) : null;
}

/** Applies the Hull-specific parts of verified notifications to one connector. */
export class HullIntegration {
  constructor(private readonly deps: HullIntegrationDeps) {}

  /** The rules deciding which connectors may register (for the dashboard). */
  get policy(): BindingPolicy {
    return this.deps.policy;
  }

  /**
   * Applies the settings present in `connector.private_settings` (and `settings.script`), and
   * keeps the credentials and name of `binding` (a Hull-signed body admitted for this
   * connector; null for HMAC-signed webhooks, which never change Hull credentials). Writes only
   * what changed; `beforeWrite` runs before any write and may throw to stop it. Throws when the
   * store fails.
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
      this.deps.status?.notification(connectorName(n.connector));
    }
  }

  /** A notification for this connector was refused (counted for the dashboard). */
  refused(reason: string): void {
    this.deps.status?.refusal(reason);
  }
}
