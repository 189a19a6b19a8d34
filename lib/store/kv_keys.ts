/**
 * The Deno KV key layout of the whole store, in one place (the cluster bus has its own prefix,
 * `["sio"]`, see lib/cluster/kv_adapter.ts):
 *
 *   ["meta", "secret"]                      generated server secret (when SECRET is unset)
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
 * On a local SQLite file, profile_parts and ident are set with a far expiry (FAR_EXPIRY_MS,
 * kv_profile_format.ts says why); older versions set them with none, which reads the same.
 */

/** Keys of the store, by what they hold. */
export const K = {
  secret: ["meta", "secret"] as const,
  doc: (name: string) => ["meta", "doc", name] as const,
  settings: ["config", "settings"] as const,
  domains: ["config", "domains"] as const,
  profile: (userId: string) => ["profiles", userId] as const,
  part: (userId: string, rev: string, i: number) => ["profile_parts", userId, rev, i] as const,
  parts: (userId: string, rev: string) => ["profile_parts", userId, rev] as const,
  ident: (identKey: string) => ["ident", identKey] as const,
  notification: (id: string) => ["notifications", id] as const,
  fetchClaim: (identKey: string) => ["fetch_claims", identKey] as const,
  events: ["events"] as const,
};
