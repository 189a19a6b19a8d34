/**
 * The shape of Hull smart-notifier bodies (docs/contracts.md §3), with messages that say what is
 * wrong: a body that is not a notification is refused whole; in a user batch each malformed
 * message is left out alone and reported (position, reason, masked identifiers), never its
 * values. Pure; no I/O.
 */
import { maskIdentifiers, userIdentifiers } from "../identity.ts";
import { type HullNotification, isObject } from "../types.ts";

/** Channels that carry user profiles. */
export const USER_CHANNELS = new Set(["user:update", "user:delete"]);
/** Channels we acknowledge and log without acting. */
export const ACKNOWLEDGED_CHANNELS = new Set(["ship:update", "segment:update"]);

/** A message left out of a batch: where, why (never a value) and whose (masked). */
export interface SkippedMessage {
  index: number;
  reason: string;
  identifiers: Record<string, string>;
}

export type Validation =
  | { ok: true; notification: HullNotification; skipped: SkippedMessage[] }
  | { ok: false; error: string };

function checkSegments(v: unknown, path: string): string | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) return `${path} must be an array`;
  for (let i = 0; i < v.length; i++) {
    if (!isObject(v[i]) || typeof v[i].id !== "string") return `${path}[${i}].id must be a string`;
  }
  return null;
}

/** Why one message of a user batch cannot be applied, or null when it can. */
function messageProblem(m: unknown, at: string): string | null {
  if (!isObject(m)) return `${at} must be an object`;
  if (!isObject(m.user)) return `${at}.user must be an object`;
  if (typeof m.user.id !== "string" || !m.user.id || m.user.id.length > 200) {
    return `${at}.user.id must be a non-empty string`;
  }
  if (m.account !== undefined && m.account !== null && !isObject(m.account)) {
    return `${at}.account must be an object`;
  }
  return checkSegments(m.segments, `${at}.segments`) ??
    checkSegments(m.account_segments, `${at}.account_segments`);
}

/**
 * Validates the shape of a parsed smart-notifier body (docs/contracts.md §3). A body that is
 * not a notification is refused whole; in a user batch, each malformed message is left out
 * and reported in `skipped` (as Hull's own connectors do: one bad message never fails the
 * batch, whose retry could not succeed either), and the notification keeps the others.
 */
export function validateNotification(body: unknown): Validation {
  if (!isObject(body)) return { ok: false, error: "body must be a JSON object" };
  const { notification_id, channel, messages } = body;
  if (typeof notification_id !== "string" || !notification_id || notification_id.length > 200) {
    return { ok: false, error: "notification_id must be a non-empty string (max 200 chars)" };
  }
  if (typeof channel !== "string" || !channel) {
    return { ok: false, error: "channel must be a non-empty string" };
  }
  const segErr = checkSegments(body.segments, "segments") ??
    checkSegments(body.accounts_segments, "accounts_segments");
  if (segErr) return { ok: false, error: segErr };
  if (!USER_CHANNELS.has(channel)) {
    if (messages !== undefined && !Array.isArray(messages)) {
      return { ok: false, error: "messages must be an array" };
    }
    return { ok: true, notification: body as unknown as HullNotification, skipped: [] };
  }
  if (!Array.isArray(messages)) return { ok: false, error: "messages must be an array" };
  const skipped: SkippedMessage[] = [];
  const kept: unknown[] = [];
  messages.forEach((m, index) => {
    const reason = messageProblem(m, `messages[${index}]`);
    if (reason === null) return kept.push(m);
    const user = isObject(m) && isObject(m.user) ? m.user : {};
    skipped.push({ index, reason, identifiers: maskIdentifiers(userIdentifiers(user)) });
  });
  const notification = (skipped.length ? { ...body, messages: kept } : body) as unknown;
  return { ok: true, notification: notification as HullNotification, skipped };
}
