import assert from "node:assert/strict";
import { MAX_PROFILE_BYTES, storedProfile, toStoredProfile } from "../../lib/webhook/profile.ts";
import type { HullUserMessage, Settings } from "../../lib/types.ts";

const settings: Settings = {
  public_traits: ["traits_plan", "account.name"],
  public_segments: [],
  public_account_segments: [],
  user_filter_segments: [],
};

Deno.test("profile - keeps user, account and segment names; drops changes and events", () => {
  const m: HullUserMessage = {
    user: { id: "u1", traits_plan: "pro" },
    account: { name: "Acme" },
    segments: [{ id: "s1", name: "Trial", type: "users_segment" }],
    events: [{ event: "x" }],
    changes: { user: {} },
  };
  const p = toStoredProfile(m, settings, 123);
  assert.deepEqual(p, {
    user: { id: "u1", traits_plan: "pro" },
    account: { name: "Acme" },
    segments: [{ id: "s1", name: "Trial" }],
    account_segments: [],
    updated_at: 123,
  });
});

Deno.test("profile - a huge profile is trimmed to identifiers and public attributes", () => {
  const m: HullUserMessage = {
    user: {
      id: "u1",
      email: "a@b.co",
      anonymous_ids: ["x"],
      traits_plan: "pro",
      traits_blob: "x".repeat(MAX_PROFILE_BYTES),
    },
    account: { name: "Acme", notes: "y".repeat(1000) },
  };
  const p = toStoredProfile(m, settings, 1);
  assert.equal(p.trimmed, true);
  assert.deepEqual(Object.keys(p.user).sort(), ["anonymous_ids", "email", "id", "traits_plan"]);
  assert.deepEqual(p.account, { name: "Acme" });
});

Deno.test("profile - carries the stored profile's JSON as UTF-8, trimmed or not", () => {
  const small: HullUserMessage = { user: { id: "u1", name: "Zoë \u2028 🎉" } };
  const big: HullUserMessage = {
    user: { id: "u2", traits_plan: "pro", traits_blob: "é".repeat(MAX_PROFILE_BYTES) },
  };
  for (const m of [small, big]) {
    const { profile, json } = storedProfile(m, settings, 7);
    assert.equal(new TextDecoder().decode(json), JSON.stringify(profile));
    assert.deepEqual(profile, toStoredProfile(m, settings, 7));
  }
  assert.equal(storedProfile(big, settings, 7).profile.trimmed, true);
});
