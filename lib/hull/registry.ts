/**
 * Which Hull connector a Hull-signed notification speaks for, among every connector this
 * deployment has registered (docs/hull_trust.md): the binding rule (connector_binding.ts) is
 * applied with a registry read from the connector directory, each connector's credentials
 * from its own store scope. A known id must carry its secret; an unknown id is registered
 * (`admit`) only once the notification's token verified, within HULL_CONNECTOR_ID,
 * HULL_ORGANIZATIONS and HULL_MAX_CONNECTORS.
 */
import {
  type Connector,
  type ConnectorDirectory,
  HULL_CONNECTOR_ID,
} from "../connector/directory.ts";
import {
  type Binding,
  type BindingPolicy,
  decideBinding,
  type RegisteredConnector,
  sameSecret,
} from "./connector_binding.ts";
import type { HullServices } from "./services.ts";
import { isObject } from "../types.ts";

/** A connector with its Hull services, as the directory holds it. */
export type HullConnector = Connector<HullServices>;

/** The verdict on a body, and the registered connector it names (for its refusal log). */
export interface Authorization {
  binding: Binding;
  /** The registered connector `configuration.id` names; null: none (unknown or malformed). */
  connector: HullConnector | null;
}

/** Where an authorized notification is applied, or why it may not be after all. */
export type Admission =
  | { ok: true; connector: HullConnector }
  | { ok: false; status: 403; reason: string; connector: HullConnector | null };

/** The `configuration.id` a body names, when it is a string. */
function namedId(body: unknown): string | null {
  const conf = isObject(body) ? body.configuration : undefined;
  return isObject(conf) && typeof conf.id === "string" ? conf.id : null;
}

/** Hull-signed notifications against every registered connector. */
export class HullRegistry {
  constructor(
    private readonly directory: ConnectorDirectory<HullServices>,
    /** HULL_CONNECTOR_ID, HULL_ORGANIZATIONS, HULL_MAX_CONNECTORS. */
    readonly policy: BindingPolicy,
  ) {}

  /**
   * What a Hull-signed `body` may do, decided from the body alone before its token is checked
   * (so a body that could change nothing costs no key fetch). Writes nothing. An unknown id is
   * decided again on the store's current state, not this instance's copy. Throws when the
   * store fails.
   */
  async authorize(body: unknown): Promise<Authorization> {
    const first = await this.#decide(body, false);
    // Unknown here, or refused as one too many: another instance may have registered or
    // removed a connector since this copy was read (as cheap as the unknown id's read).
    const unknown = first.binding.ok
      ? !first.binding.known
      : first.connector === null && first.binding.status === 403;
    return unknown ? await this.#decide(body, true) : first;
  }

  /**
   * The connector an authorized notification (token verified) is applied to: a known one, or
   * an unknown one registered now; 403 when HULL_MAX_CONNECTORS is reached (nothing written)
   * or when another notification registered the id meanwhile with another secret.
   */
  async admit(binding: Binding & { ok: true }): Promise<Admission> {
    const { id, secret } = binding.connection;
    const { result, connector } = await this.directory.register(id, this.policy.maxConnectors);
    if (result === "full" || !connector) {
      const max = this.policy.maxConnectors;
      return {
        ok: false,
        status: 403,
        reason: `notification for Hull connector ${id} refused: this deployment serves as many ` +
          `Hull connectors as HULL_MAX_CONNECTORS (${max}) allows (remove one in the ` +
          "dashboard, or raise HULL_MAX_CONNECTORS); nothing was applied",
        connector: null,
      };
    }
    // Two first notifications of one id racing: the one whose credentials were kept wins.
    const kept = await connector.services.credentials.registered(true);
    if (kept && (kept.secret === null || !sameSecret(secret, kept.secret))) {
      return {
        ok: false,
        status: 403,
        reason: `configuration.secret is not the one connector ${id} was bound with: nothing ` +
          "was applied",
        connector,
      };
    }
    return { ok: true, connector };
  }

  async #decide(body: unknown, fresh: boolean): Promise<Authorization> {
    const id = namedId(body);
    const ids = await this.directory.ids(fresh);
    const connector = id !== null && ids.includes(id) ? await this.directory.get(id, fresh) : null;
    const registered: RegisteredConnector | null = connector
      ? await connector.services.credentials.registered(fresh)
      : null;
    const binding = decideBinding(body, {
      lookup: (x) => (registered && registered.id === x ? registered : null),
      // A registered id without credentials yet (its first notification failed) takes no room.
      ids: () => (connector && !registered ? ids.filter((x) => x !== id) : ids),
    }, this.policy);
    if (binding.ok && !HULL_CONNECTOR_ID.test(binding.connection.id)) {
      return {
        binding: {
          ok: false,
          status: 400,
          reason: "configuration.id is not a Hull connector id (24 lowercase hexadecimal " +
            "digits): nothing was applied",
        },
        connector: null,
      };
    }
    return { binding, connector };
  }
}
