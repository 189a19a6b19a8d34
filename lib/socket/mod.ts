/**
 * The socket part: socket.io on the shared node:http server. The handshake (Origin check,
 * per-IP connection limit), `user.fetch` validation and identity verification, the exposure
 * tier of each identifier, rooms named by keyed hashes, the known profile sent after
 * `user.fetch`, per-connection limits, the bounded legacy namespaces, and the `Publisher` the
 * webhook pushes through.
 *
 * May import: the leaves at the top of lib/, the store contract and live config (lib/store/).
 * Never the webhook part or the dashboard.
 */
export { createSocketServer, type SocketDeps } from "./server.ts";
export { IdentityVerifier, signIdentity } from "./verification.ts";
export { DEFAULT_LIMITS, type Limits } from "./limits.ts";
export { socketCounts } from "./legacy_namespaces.ts";
