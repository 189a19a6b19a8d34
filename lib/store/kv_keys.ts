/**
 * The Deno KV key layout of the whole store, in one place (the cluster bus has its own prefix,
 * `["sio"]`, see lib/cluster/kv_adapter.ts).
 *
 * Deployment-wide keys:
 *
 *   ["meta", "secret"]                      generated server secret (when SECRET is unset)
 *   ["connectors"]                          string[] ids of the registered Hull connectors
 *
 * Every other key belongs to one connector: the standalone connector's sit at the root, as
 * below; a Hull connector's are the same keys under ["connector", id] (`keysFor`), so removing
 * a connector is deleting one prefix, and nothing of one connector is addressed by another's.
 *
 *   ["meta", "doc", name]                   small documents (names seen, revoked sessions, …)
 *   ["config", "settings"]                  Settings
 *   ["config", "domains"]                   string[] of whitelisted domain patterns
 *   ["profiles", userId]                    { inline: JSON bytes, updated_at, ik } | { parts, rev, updated_at, ik }
 *                                           (ik: the ident keys last written for this user)
 *   ["profile_parts", userId, rev, i]       Uint8Array chunk of a large profile's JSON
 *   ["ident", identKey]                     userId (identKey = keyed hash of "type:value")
 *   ["notifications", notificationId]       { expires_at } replay protection
 *   ["fetch_claims", identKey]              { expires_at } profile fetched from Hull lately
 *   ["events", sortableId]                  EventChunk { n, json } of one flush, keyed by its
 *                                           newest entry's id (kv_event_log.ts)
 *
 * Earlier versions set profile_parts and ident with a 1,000-year expiry: read the same.
 */

/** The keys of one connector's data: the standalone connector's at `scope` [], the others'. */
export function keysFor(scope: Deno.KvKeyPart[] = []) {
  const at = <T extends Deno.KvKeyPart[]>(...key: T): Deno.KvKey => [...scope, ...key];
  return {
    /** The prefix of everything this connector owns ([] for the standalone one). */
    scope: scope as Deno.KvKey,
    secret: ["meta", "secret"] as Deno.KvKey,
    connectors: ["connectors"] as Deno.KvKey,
    doc: (name: string) => at("meta", "doc", name),
    settings: at("config", "settings"),
    domains: at("config", "domains"),
    profile: (userId: string) => at("profiles", userId),
    part: (userId: string, rev: string, i: number) => at("profile_parts", userId, rev, i),
    parts: (userId: string, rev: string) => at("profile_parts", userId, rev),
    ident: (identKey: string) => at("ident", identKey),
    notification: (id: string) => at("notifications", id),
    fetchClaim: (identKey: string) => at("fetch_claims", identKey),
    events: at("events"),
  };
}

/** The key layout of one connector. */
export type KvKeys = ReturnType<typeof keysFor>;

/** The prefix of a Hull connector's keys. */
export const connectorScope = (connectorId: string): Deno.KvKeyPart[] => ["connector", connectorId];

/** Keys of the standalone connector (and the deployment-wide ones). */
export const K: KvKeys = keysFor();
