/**
 * The binding rule: which Hull connector a Hull-signed notification may change, and when an
 * unknown connector may bind this deployment (docs/hull_trust.md). Hull's RS256 token covers
 * `jti` (the notification id) and never the body, so the body proves itself: its
 * `configuration.id` and `configuration.secret` must be those the connector was bound with,
 * compared in constant time. An unknown id is registered only within the rules
 * (HULL_CONNECTOR_ID, HULL_ORGANIZATIONS, how many connectors a deployment serves), and only
 * with an `organization` that is a host name on the allowed domains, so no request ever goes
 * where a body points. Written for a registry of connectors keyed by id: a known id must match
 * its secret, an unknown one registers when allowed. Pure: no I/O.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type DomainPattern, isHostName, originAllowed } from "../domains.ts";
import type { HullConnection } from "./credentials.ts";
import { isObject } from "../types.ts";
import { CONNECTOR_ID } from "../store/store.ts";

/** What decides whether a connector may bind. */
export interface BindingPolicy {
  /** Organizations (host names, wildcards allowed) a connector may belong to. */
  organizations: DomainPattern[];
  /** HULL_CONNECTOR_ID: the only id that may register; null: any. */
  connectorId: string | null;
  /** Most Hull connectors registered at once (HULL_MAX_CONNECTORS). */
  maxConnectors: number;
}

/** A connector as registered; `secret` is null when the stored one cannot be read. */
export interface RegisteredConnector {
  id: string;
  organization: string;
  secret: string | null;
}

/** The connectors registered so far. */
export interface ConnectorRegistry {
  /** The connector registered under `id`, or null. */
  lookup(id: string): RegisteredConnector | null;
  /** Ids of every registered connector. */
  ids(): string[];
}

/**
 * The verdict on one body: the connection it may act as (`known`: already registered; else it
 * registers), or why nothing of it may be applied. Reasons never contain a secret.
 */
export type Binding =
  | { ok: true; connection: HullConnection; known: boolean }
  | { ok: false; status: 400 | 403; reason: string };

const MAX_SECRET_LENGTH = 1000;

/** A value quoted for a message: short, and never more than the sender wrote. */
const shown = (v: unknown) => JSON.stringify(String(v).slice(0, 60));

/**
 * Why `organization` may not be used (no request may go to it), or null when it is a host name
 * matching one of `allowed`.
 */
export function organizationRefusal(
  organization: unknown,
  allowed: DomainPattern[],
): string | null {
  if (typeof organization !== "string" || !organization) {
    return "configuration.organization is missing";
  }
  const host = organization.toLowerCase();
  if (!isHostName(host)) {
    return `configuration.organization ${shown(organization)} is not a host name ` +
      "(no port, IP address, scheme or path)";
  }
  if (!originAllowed(`https://${host}`, allowed)) {
    return `configuration.organization ${shown(organization)} is not on an allowed domain ` +
      `(${allowed.map((p) => p.raw).join(", ")}; set HULL_ORGANIZATIONS to change it)`;
  }
  return null;
}

/** Equality of two secrets in time independent of their contents (through SHA-256 digests). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Decides what a Hull-signed body may do: `body.configuration` must carry `id`, `organization`
 * and `secret`; a `connector.id`, when present, must be the same id. A registered id must come
 * with its registered secret; an unknown id registers when the policy and room allow it.
 */
export function decideBinding(
  body: unknown,
  registry: ConnectorRegistry,
  policy: BindingPolicy,
): Binding {
  const refuse = (status: 400 | 403, reason: string): Binding => ({ ok: false, status, reason });
  const conf = isObject(body) ? body.configuration : undefined;
  if (!isObject(conf)) {
    return refuse(
      400,
      "a Hull-signed notification must carry configuration { id, organization, secret }: " +
        "Hull's signature does not cover the body, so nothing was applied",
    );
  }
  const { id, secret, organization } = conf;
  if (typeof id !== "string" || !CONNECTOR_ID.test(id)) {
    return refuse(400, "configuration.id is missing or malformed: nothing was applied");
  }
  if (typeof secret !== "string" || !secret || secret.length > MAX_SECRET_LENGTH) {
    return refuse(400, `configuration.secret is missing or malformed for connector ${id}`);
  }
  const connector = isObject(body) ? body.connector : undefined;
  if (isObject(connector) && connector.id !== undefined && connector.id !== id) {
    return refuse(400, `connector.id differs from configuration.id ${id}`);
  }
  const orgRefused = organizationRefusal(organization, policy.organizations);
  if (orgRefused) return refuse(403, `${orgRefused}; connector ${id} refused`);
  const connection = { id, organization: (organization as string).toLowerCase(), secret };

  const known = registry.lookup(id);
  if (known) {
    if (known.secret === null) {
      return refuse(
        403,
        `the stored secret of connector ${id} cannot be read (SECRET changed?): remove the ` +
          "connector in the dashboard so that Hull's next notification registers it again",
      );
    }
    if (!sameSecret(secret, known.secret)) {
      return refuse(
        403,
        `configuration.secret is not the one connector ${id} was bound with: nothing was applied`,
      );
    }
    return { ok: true, connection, known: true };
  }
  if (policy.connectorId !== null && id !== policy.connectorId) {
    return refuse(
      403,
      `connector ${id} may not bind this deployment: HULL_CONNECTOR_ID names ${policy.connectorId}`,
    );
  }
  const ids = registry.ids();
  if (ids.length >= policy.maxConnectors) {
    return refuse(
      403,
      `notification for Hull connector ${id} refused: this deployment serves ${ids.length} ` +
        `Hull connector${ids.length === 1 ? "" : "s"}, as many as HULL_MAX_CONNECTORS ` +
        `(${policy.maxConnectors}) allows (remove one in the dashboard, or raise ` +
        "HULL_MAX_CONNECTORS)",
    );
  }
  return { ok: true, connection, known: false };
}
