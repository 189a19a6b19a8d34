/**
 * What a verified notification means beyond its users, when the connector is installed in
 * Hull: the connector it is for (one per deployment: another connector's notification is
 * refused and logged), the settings Hull manages (`connector.private_settings`), and the
 * credentials Hull sends (`configuration`), kept only when Hull itself signed the request.
 */
import type { EventLog } from "../events.ts";
import type { HullNotification } from "../types.ts";
import { type HullCredentials, parseConnection } from "./credentials.ts";
import type { HullSettingsSync } from "./settings_sync.ts";

export interface HullIntegrationDeps {
  credentials: HullCredentials;
  settings: HullSettingsSync;
  events: EventLog;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The connector id a notification is for: `configuration.id`, else `connector.id`. */
export function connectorIdOf(n: HullNotification): string | null {
  for (const holder of [n.configuration, n.connector]) {
    if (isObject(holder) && typeof holder.id === "string" && holder.id) return holder.id;
  }
  return null;
}

/** Applies the Hull-specific parts of verified notifications. */
export class HullIntegration {
  constructor(private readonly deps: HullIntegrationDeps) {}

  /**
   * Why `n` must be refused, or null. A notification for another connector than the one this
   * deployment serves is refused (and logged) before anything is applied.
   */
  async refusal(n: HullNotification): Promise<string | null> {
    const id = connectorIdOf(n);
    if (!id) return null;
    const bound = await this.deps.credentials.info();
    if (!bound || bound.id === id) return null;
    const message = `notification for Hull connector ${id.slice(0, 40)} refused: this ` +
      `deployment serves connector ${bound.id} (one connector per deployment; disconnect it ` +
      `in the dashboard's settings to serve another)`;
    this.deps.events.emit("incoming.connection.error", { message: `webhook ${message}` });
    return message;
  }

  /**
   * Applies the settings present in `connector.private_settings`, and keeps the credentials
   * when Hull signed the request (`signedByHull`): a sender holding only our webhook secret
   * cannot point profile fetches at another organization. Writes only what changed;
   * `beforeWrite` runs before any write and may throw to stop it. Throws when the store fails.
   */
  async apply(
    n: HullNotification,
    signedByHull: boolean,
    beforeWrite?: () => Promise<void>,
  ): Promise<void> {
    const ps = isObject(n.connector) ? n.connector.private_settings : undefined;
    await this.deps.settings.apply(ps, beforeWrite);
    if (!signedByHull) return;
    const conn = parseConnection(n.configuration);
    if (conn) await this.deps.credentials.save(conn, beforeWrite);
  }
}
