/** Test helper: small store fixtures shared by the store test suites. */
import type { StoredProfile } from "../../lib/store/store.ts";
import { waitFor as wait } from "./wait.ts";

/** A minimal stored profile for user `id`, received at `at`. */
export function profile(
  id: string,
  extra: Record<string, unknown> = {},
  at = Date.now(),
): StoredProfile {
  return {
    user: { id, ...extra },
    account: {},
    segments: [],
    account_segments: [],
    updated_at: at,
  };
}

export const SETTINGS = {
  public_traits: ["email"],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

/**
 * Polls `cond` until it holds; fails after `ms` (tests/helpers/wait.ts is the shared helper;
 * this signature is kept for the store suites).
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 2_000): Promise<void> {
  await wait(cond, { timeoutMs: ms, what: "store condition" });
}
