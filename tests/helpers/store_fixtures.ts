/** Test helper: small store fixtures shared by the store test suites. */
import type { StoredProfile } from "../../lib/store/store.ts";

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

/** Polls `cond` every 20 ms for up to `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 2_000): Promise<void> {
  for (const end = Date.now() + ms; !(await cond()) && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
