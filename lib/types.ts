/**
 * Shared types of the connector: the Hull notification shapes we accept, the settings that
 * decide what is public, and the payload a page receives. Types only, no logic.
 */

/** A segment as Hull sends it in notifications. */
export interface HullSegment {
  id: string;
  name: string;
  type?: string;
}

/** One message of a `user:update` smart-notifier batch. */
export interface HullUserMessage {
  message_id?: string;
  user: Record<string, unknown> & { id: string };
  account?: Record<string, unknown>;
  segments?: HullSegment[];
  account_segments?: HullSegment[];
  events?: unknown[];
  changes?: Record<string, unknown>;
}

/** A smart-notifier request body (docs/contracts.md §3). */
export interface HullNotification {
  notification_id: string;
  channel: string;
  connector?: Record<string, unknown>;
  /** The connector's credentials: `{ id, organization, secret }` (never logged). */
  configuration?: Record<string, unknown>;
  segments?: HullSegment[];
  accounts_segments?: HullSegment[];
  messages?: HullUserMessage[];
}

/** What the dashboard (or env seed) says may leave the server. Lists of Hull names / ids. */
export interface Settings {
  /** Flat Hull attribute names: `email`, `traits_plan`, `clearbit/name`, `account.<name>`. */
  public_traits: string[];
  /** User segment ids whose names may be sent. */
  public_segments: string[];
  /** Account segment ids whose names may be sent. */
  public_account_segments: string[];
  /** When non-empty, users in none of these segment ids are never sent. */
  user_filter_segments: string[];
  /**
   * How browser claims are trusted (docs/security.md, Verified identities):
   * `off` trusts every claim; `report` trusts them but logs and counts unverified ones;
   * `required` ignores unverified `id`/`external_id`/`email` claims. Absent means `off`.
   */
  identity_mode?: IdentityMode;
  /** Attribute names an anonymous (or unverified, in `required` mode) socket may receive. */
  anonymous_traits?: string[];
  /** User segment ids whose names an anonymous socket may receive. */
  anonymous_segments?: string[];
  /** Account segment ids whose names an anonymous socket may receive. */
  anonymous_account_segments?: string[];
  /**
   * The connector's `script` setting (Hull's `settings.script`, as the original connector):
   * code pages run on each update, only where their tag has `data-allow-script`.
   */
  script?: string;
}

export const IDENTITY_MODES = ["off", "report", "required"] as const;
export type IdentityMode = typeof IDENTITY_MODES[number];

/** The list settings: what the dashboard edits and a payload plan is built from. */
export const SETTINGS_LISTS = [
  "public_traits",
  "public_segments",
  "public_account_segments",
  "user_filter_segments",
  "anonymous_traits",
  "anonymous_segments",
  "anonymous_account_segments",
] as const;

/** The `user.update` payload a page receives (docs/contracts.md §5). */
export interface PublicPayload {
  message: "ok";
  user: Record<string, unknown> & { id: string };
  account: Record<string, unknown>;
  segments: string[];
  account_segments: string[];
  events: unknown[];
  /** Version of the profile (ms when received); an extension: pages drop older pushes. */
  version?: number;
  /** A test push from the dashboard: pages get the event even when nothing changed. */
  test?: true;
}

/** Identifier types a browser may claim, in the order we resolve them. */
export const CLAIM_TYPES = ["id", "external_id", "email", "anonymous_id"] as const;
export type ClaimType = typeof CLAIM_TYPES[number];
export type Claims = Partial<Record<ClaimType, string>>;

/** One event for every socket in any of `rooms`. */
export interface Push {
  rooms: string[];
  /** Sockets in any of these rooms are skipped (they get this user's other-tier push). */
  except?: string[];
  event: "user.update" | "user.delete";
  payload: unknown;
}

/**
 * Emits each push to every socket in any of its rooms, on every instance. A whole batch goes
 * in one call so that it crosses instances as one message, not one per user and tier.
 */
export type Publisher = (pushes: Push[], opts?: PublishOptions) => void;

export interface PublishOptions {
  /** Emit to this instance's sockets only: no other instance can hold a socket of these rooms. */
  localOnly?: boolean;
}

/** The public payloads of one version of a profile, for the settings they were built with. */
export interface ProfileView {
  /** The settings object the payloads were built with. */
  settings: object;
  full: unknown;
  anonymous: unknown;
}

/** What we keep of a Hull user: enough to build any public payload later, nothing more. */
export interface StoredProfile {
  user: Record<string, unknown> & { id: string };
  account: Record<string, unknown>;
  segments: HullSegment[];
  account_segments: HullSegment[];
  /** Milliseconds since epoch when this version was received; orders updates per user. */
  updated_at: number;
  /** True when the profile was cut down to fit the store (see lib/store/). */
  trimmed?: boolean;
}

/** One connector event, already masked. */
export interface LogEntry {
  /** Unique, time-ordered id (assigned by the event log). */
  id?: string;
  time: string;
  event: string;
  instance: string;
  identifiers?: Record<string, string>;
  domain?: string;
  message?: string;
}

/** The settings and domain whitelist as stored (either engine). */
export interface StoredConfig {
  settings: Settings;
  domains: string[];
}

/** True for a plain JSON object (not null, not an array): the guard for parsed bodies. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
