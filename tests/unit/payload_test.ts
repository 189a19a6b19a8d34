import assert from "node:assert/strict";
import { buildPublicPayload, publicTraitNames } from "../../lib/payload.ts";
import type { HullNotification, HullUserMessage, Settings } from "../../lib/types.ts";

const FIXTURES = new URL("../fixtures/hull/", import.meta.url);

async function fixture(name: string): Promise<HullNotification> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

async function ada(): Promise<HullUserMessage> {
  return (await fixture("user-update.json")).messages![0];
}

function settings(over: Partial<Settings> = {}): Settings {
  return {
    public_traits: [],
    public_segments: [],
    public_account_segments: [],
    user_filter_segments: [],
    ...over,
  };
}

/** The JSON text of a payload, to look for values that must not appear anywhere in it. */
function allText(value: unknown): string {
  return JSON.stringify(value);
}

const EVERYTHING = settings({
  public_traits: [
    "email",
    "name",
    "traits_plan",
    "traits_seats",
    "clearbit/company",
    "account.name",
    "account.clearbit/employees",
  ],
  public_segments: ["seg_trial", "seg_vip"],
  public_account_segments: ["aseg_enterprise"],
});

Deno.test("payload - groups whitelisted attributes the Hull way", async () => {
  const m = await ada();
  const p = buildPublicPayload(m, EVERYTHING);
  assert.deepEqual(p, {
    message: "ok",
    user: {
      id: m.user.id,
      email: m.user.email,
      name: m.user.name,
      traits: { plan: m.user.traits_plan, seats: m.user.traits_seats },
      clearbit: { company: m.user["clearbit/company"] },
    },
    account: {
      name: m.account!.name,
      "clearbit/employees": m.account!["clearbit/employees"],
    },
    segments: ["Trial users"],
    account_segments: ["Enterprise"],
    events: [],
  });
});

Deno.test("payload - private attributes never leave, even when everything else is public", async () => {
  const m = await ada();
  const p = buildPublicPayload(m, EVERYTHING)!;
  const text = allText(p);
  assert.ok(!text.includes("internal_score"), text);
  assert.ok(!text.includes(String(m.user.traits_internal_score)), text);
  assert.ok(!text.includes("last_seen_at"), text);
  assert.ok(!text.includes(String(m.user["intercom/last_seen_at"])), text);
  assert.ok(!text.includes("arr_internal"), text);
  assert.ok(!text.includes(String(m.account!.arr_internal)), text);
  assert.ok(!text.includes("Churn risk"), "segment not in public_segments leaked");
  // Identifiers other than id are private unless whitelisted.
  assert.ok(!text.includes(String(m.user.external_id)), text);
  assert.ok(!text.includes("anon"), text);
  assert.equal(p.user.intercom, undefined);
});

Deno.test("payload - empty settings give the user id only", async () => {
  const m = await ada();
  const p = buildPublicPayload(m, settings())!;
  assert.deepEqual(p.user, { id: m.user.id });
  assert.deepEqual(p.account, {});
  assert.deepEqual(p.segments, []);
  assert.deepEqual(p.account_segments, []);
  assert.deepEqual(p.events, []);
  assert.equal(p.message, "ok");
});

Deno.test("payload - events are always empty, whatever the message carries", () => {
  const m: HullUserMessage = { user: { id: "u1" }, events: [{ event: "Viewed page" }] };
  assert.deepEqual(buildPublicPayload(m, settings())!.events, []);
});

Deno.test("payload - traits_x/y drops the prefix, traits_x lands under traits", () => {
  const m: HullUserMessage = {
    user: { id: "u1", "traits_clearbit/name": "Acme", traits_plan: "pro", "group/name": "G" },
  };
  const p = buildPublicPayload(
    m,
    settings({ public_traits: ["traits_clearbit/name", "traits_plan", "group/name"] }),
  )!;
  assert.deepEqual(p.user, {
    id: "u1",
    clearbit: { name: "Acme" },
    traits: { plan: "pro" },
    group: { name: "G" },
  });
});

Deno.test("payload - missing attributes are absent, present nulls stay null", () => {
  const m: HullUserMessage = { user: { id: "u1", email: null }, account: {} };
  const p = buildPublicPayload(
    m,
    settings({ public_traits: ["email", "traits_plan", "clearbit/company", "account.name"] }),
  )!;
  assert.deepEqual(p.user, { id: "u1", email: null });
  assert.ok(!("traits" in p.user) && !("clearbit" in p.user));
  assert.deepEqual(p.account, {});
});

Deno.test("payload - no account in the message gives an empty account", () => {
  const m: HullUserMessage = { user: { id: "u1" } };
  const p = buildPublicPayload(m, settings({ public_traits: ["account.name"] }))!;
  assert.deepEqual(p.account, {});
});

Deno.test("payload - segment names in message order, deduplicated, only whitelisted ids", () => {
  const m: HullUserMessage = {
    user: { id: "u1" },
    segments: [
      { id: "s3", name: "Third" },
      { id: "s1", name: "First" },
      { id: "s2", name: "Secret" },
      { id: "s1", name: "First" },
    ],
    account_segments: [{ id: "a2", name: "Hidden" }, { id: "a1", name: "Big" }],
  };
  const p = buildPublicPayload(
    m,
    settings({ public_segments: ["s1", "s3", "a1"], public_account_segments: ["a1", "s1"] }),
  )!;
  assert.deepEqual(p.segments, ["Third", "First"]);
  assert.deepEqual(p.account_segments, ["Big"]);
});

Deno.test("payload - user segment ids do not whitelist account segments and vice versa", async () => {
  const m = await ada();
  const p = buildPublicPayload(
    m,
    settings({ public_segments: ["aseg_enterprise"], public_account_segments: ["seg_trial"] }),
  )!;
  assert.deepEqual(p.segments, []);
  assert.deepEqual(p.account_segments, []);
});

Deno.test("payload - filter segments: users in none of them are not sent", async () => {
  const m = await ada(); // in seg_trial and seg_churn
  assert.equal(buildPublicPayload(m, settings({ user_filter_segments: ["seg_vip"] })), null);
  assert.notEqual(
    buildPublicPayload(m, settings({ user_filter_segments: ["seg_vip", "seg_churn"] })),
    null,
  );
  // An account segment id does not count as a user segment.
  assert.equal(
    buildPublicPayload(m, settings({ user_filter_segments: ["aseg_enterprise"] })),
    null,
  );
  const noSegments: HullUserMessage = { user: { id: "u1" } };
  assert.equal(buildPublicPayload(noSegments, settings({ user_filter_segments: ["x"] })), null);
  assert.notEqual(buildPublicPayload(noSegments, settings()), null);
});

Deno.test("payload - batch of 100: each message yields its own user's payload", async () => {
  const n = await fixture("user-update-batch-100.json");
  const s = settings({
    public_traits: ["email", "traits_plan", "account.name"],
    public_segments: ["seg_trial", "seg_vip", "seg_churn"],
  });
  assert.equal(n.messages!.length, 100);
  const ids = new Set<string>();
  for (const m of n.messages!) {
    const p = buildPublicPayload(m, s)!;
    assert.equal(p.user.id, m.user.id);
    assert.equal(p.user.email, m.user.email);
    assert.deepEqual(p.user.traits, { plan: m.user.traits_plan });
    assert.deepEqual(p.segments, m.segments!.map((x) => x.name));
    assert.equal(allText(p).includes("internal_score"), false);
    ids.add(p.user.id);
  }
  assert.equal(ids.size, 100);
});

Deno.test("payload - prototype keys in names and values never pollute", () => {
  const user = JSON.parse(
    `{"id":"u1","__proto__":{"polluted":1},"constructor/prototype/polluted":2,
      "traits___proto__":{"polluted":3},"prototype":4,"a/__proto__/polluted":5,
      "safe":{"__proto__":{"polluted":6},"constructor":{"prototype":{"polluted":7}},"ok":1}}`,
  );
  const account = JSON.parse(`{"__proto__":{"polluted":8},"name":"Acme"}`);
  const p = buildPublicPayload(
    { user, account },
    settings({
      public_traits: [
        "__proto__",
        "constructor/prototype/polluted",
        "traits___proto__",
        "prototype",
        "a/__proto__/polluted",
        "safe",
        "account.__proto__",
        "account.name",
      ],
    }),
  )!;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted"), false);
  assert.deepEqual(p.user, { id: "u1", safe: { ok: 1 } });
  assert.deepEqual(p.account, { name: "Acme" });
  // Plain, JSON-safe objects with the ordinary prototype.
  assert.equal(Object.getPrototypeOf(p.user), Object.prototype);
  assert.equal(Object.getPrototypeOf(p.user.safe), Object.prototype);
  assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
});

Deno.test("payload - a scalar and a nested path on the same key keep the nested object", () => {
  const user = { id: "u1", clearbit: "scalar", "clearbit/name": "Acme" };
  for (
    const order of [["clearbit", "clearbit/name"], ["clearbit/name", "clearbit"]]
  ) {
    const p = buildPublicPayload({ user }, settings({ public_traits: order }))!;
    assert.deepEqual(p.user, { id: "u1", clearbit: { name: "Acme" } }, order.join(","));
  }
  // A leaf value that is itself an object is not merged into or mutated.
  const objLeaf = { id: "u1", group: { size: 3 }, "group/name": "G" };
  const p = buildPublicPayload(
    { user: objLeaf },
    settings({ public_traits: ["group", "group/name"] }),
  )!;
  assert.deepEqual(p.user, { id: "u1", group: { name: "G" } });
  assert.deepEqual(objLeaf.group, { size: 3 });
});

Deno.test("payload - the first whitelisted name wins when two land on one leaf", () => {
  const user = { id: "u1", "traits_clearbit/name": "from traits", "clearbit/name": "plain" };
  const a = buildPublicPayload(
    { user },
    settings({ public_traits: ["clearbit/name", "traits_clearbit/name"] }),
  )!;
  const b = buildPublicPayload(
    { user },
    settings({ public_traits: ["traits_clearbit/name", "clearbit/name"] }),
  )!;
  assert.deepEqual(a.user.clearbit, { name: "plain" });
  assert.deepEqual(b.user.clearbit, { name: "from traits" });
});

Deno.test("payload - user.id cannot be replaced or nested by whitelisted names", () => {
  const user = { id: "u1", "id/x": "nested", traits_id: "t" };
  const p = buildPublicPayload(
    { user },
    settings({ public_traits: ["id", "id/x", "traits_id"] }),
  )!;
  assert.deepEqual(p.user, { id: "u1", traits: { id: "t" } });
});

Deno.test("payload - names with empty segments are skipped without throwing", () => {
  const user = { id: "u1", "a//b": 1, "x/": 2, "/y": 3, traits_: 4, ok: 5 };
  const p = buildPublicPayload(
    { user },
    settings({ public_traits: ["a//b", "x/", "/y", "traits_", "ok", "", " ", "account."] }),
  )!;
  assert.deepEqual(p.user, { id: "u1", ok: 5 });
  assert.deepEqual(p.account, {});
});

Deno.test("payload - values are deep copies; unsendable values are left out", () => {
  const tags = ["a", "b"];
  const nested = { deep: { list: [1, 2] } };
  const user: HullUserMessage["user"] = {
    id: "u1",
    tags,
    nested,
    fn: () => 1,
    big: 10n,
    inf: Infinity,
    undef: undefined,
  };
  const p = buildPublicPayload(
    { user },
    settings({ public_traits: ["tags", "nested", "fn", "big", "inf", "undef"] }),
  )!;
  assert.deepEqual(p.user, {
    id: "u1",
    tags: ["a", "b"],
    nested: { deep: { list: [1, 2] } },
    inf: null,
  });
  assert.notEqual(p.user.tags, tags);
  (p.user.tags as string[]).push("c");
  (p.user.nested as typeof nested).deep.list.push(3);
  assert.deepEqual(tags, ["a", "b"]);
  assert.deepEqual(nested.deep.list, [1, 2]);
});

Deno.test("payload - does not modify the message or the settings", async () => {
  const m = await ada();
  const before = JSON.stringify(m);
  const s = structuredClone(EVERYTHING);
  buildPublicPayload(m, s);
  assert.equal(JSON.stringify(m), before);
  assert.deepEqual(s, EVERYTHING);
});

Deno.test("publicTraitNames - splits user and account names; user always has id", () => {
  const names = publicTraitNames(
    settings({
      public_traits: ["email", " traits_plan ", "account.name", "account.clearbit/employees", ""],
    }),
  );
  assert.deepEqual([...names.user].sort(), ["email", "id", "traits_plan"]);
  assert.deepEqual([...names.account].sort(), ["clearbit/employees", "name"]);
  assert.deepEqual([...publicTraitNames(settings()).user], ["id"]);
  assert.equal(publicTraitNames(settings()).account.size, 0);
});

Deno.test("payload - a settings object whose lists were replaced is planned again", async () => {
  const m = await ada();
  const s = settings({ public_traits: ["email"] });
  assert.deepEqual(Object.keys(buildPublicPayload(m, s)!.user), ["id", "email"]);
  s.public_traits = ["name"];
  s.public_segments = ["seg_churn"];
  const p = buildPublicPayload(m, s)!;
  assert.deepEqual(Object.keys(p.user), ["id", "name"]);
  assert.deepEqual(p.segments, ["Churn risk"]);
  s.user_filter_segments = ["seg_nobody"];
  assert.equal(buildPublicPayload(m, s), null);
});

Deno.test("payload - payloads built under one settings object share no objects", async () => {
  const m = await ada();
  const a = buildPublicPayload(m, EVERYTHING)!;
  const b = buildPublicPayload(m, EVERYTHING)!;
  assert.deepEqual(a, b);
  for (const k of ["user", "account", "segments", "account_segments", "events"] as const) {
    assert.notEqual(a[k], b[k], k);
  }
  assert.notEqual(a.user.clearbit, b.user.clearbit);
  (a.segments as string[]).push("changed");
  assert.equal(b.segments.includes("changed"), false);
});
