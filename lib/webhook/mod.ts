/**
 * The webhook part: everything from a POST on /smart-notifier to a push. Signature checks
 * (HMAC, Hull's RS256 JWT), body validation, replay protection, the processing of a batch
 * (store every profile and its identity index, then publish each user's public payload per
 * tier), the conversion of a Hull message into a stored profile, and the names seen for the
 * dashboard.
 *
 * May import: the leaves at the top of lib/ (types, identity, payload, events, metrics), the
 * store contract (lib/store/store.ts) and the Hull integration (lib/hull/, for Hull's keys and
 * settings). Never the socket part or the dashboard: pushes go out through a `Publisher`.
 */
export { errorAnswer, handleSmartNotifier, type WebhookDeps } from "./endpoint.ts";
export { processNotification, validateNotification } from "./notifications.ts";
export { toStoredProfile } from "./profile.ts";
export { SeenTracker } from "./seen.ts";
export { signHmac, verifyHmacSignature, verifyHullJwt } from "./signature.ts";
