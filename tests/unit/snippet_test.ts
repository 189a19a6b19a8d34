import assert from "node:assert/strict";
import { diff } from "../../lib/snippet/diff.ts";
import {
  findSnippetScript,
  namespaceFor,
  readConfig,
  type ScriptLike,
} from "../../lib/snippet/endpoint.ts";
import {
  cachedIdentity,
  cleanClaims,
  discoverIdentity,
  fromHull,
  fromIntercom,
  fromSegment,
} from "../../lib/snippet/identity.ts";
import {
  CLAIMS_KEY,
  createPayloadState,
  createStore,
  PAYLOAD_KEY,
  type StorageLike,
} from "../../lib/snippet/cache.ts";
import { createEmitter } from "../../lib/snippet/emitter.ts";
import {
  createHullBrowser,
  RETRY_FIRST_MS,
  RETRY_MAX_MS,
  type SocketLike,
} from "../../lib/snippet/client.ts";
import { STUB_JS } from "../../lib/snippet/stub.ts";

// ---- stand-ins -------------------------------------------------------------------------------

class MemoryStorage implements StorageLike {
  map = new Map<string, string>();
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.map.set(key, String(value));
  }
}

const brokenStorage: StorageLike = {
  getItem() {
    throw new DOMException("denied", "SecurityError");
  },
  setItem() {
    throw new DOMException("quota", "QuotaExceededError");
  },
};

function script(src: string, attrs: Record<string, string> = {}): ScriptLike {
  return { src, getAttribute: (name) => attrs[name] ?? null };
}

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => void;

class FakeSocket implements SocketLike {
  connected = false;
  active = true;
  handlers: Record<string, Fn[]> = {};
  sent: [string, unknown][] = [];
  on(event: string, fn: Fn) {
    (this.handlers[event] ||= []).push(fn);
  }
  emit(event: string, arg: unknown) {
    this.sent.push([event, arg]);
  }
  fire(event: string, ...args: unknown[]) {
    for (const fn of this.handlers[event] || []) fn(...args);
  }
  connect() {
    this.connected = true;
    this.fire("connect");
  }
  drop() {
    this.connected = false;
    this.fire("disconnect", "transport close");
  }
  fetches() {
    return this.sent.filter(([e]) => e === "user.fetch").map(([, a]) => a);
  }
}

class FakeTimers {
  pending = new Map<number, { fn: () => void; ms: number }>();
  delays: number[] = [];
  next = 1;
  set = (fn: () => void, ms: number) => {
    this.pending.set(this.next, { fn, ms });
    this.delays.push(ms);
    return this.next++;
  };
  clear = (id: unknown) => void this.pending.delete(id as number);
  /** Runs the earliest pending timer. */
  tick() {
    const [id, t] = [...this.pending][0] ?? [];
    if (!t) return false;
    this.pending.delete(id!);
    t.fn();
    return true;
  }
}

const payload = (plan: string, segments = ["Trial users"]) => ({
  message: "ok",
  user: { id: "u1", email: "ada@example.com", traits: { plan } },
  account: { name: "Example Inc" },
  segments,
  account_segments: [],
  events: [],
});

/** Lets queued microtasks (sticky replays) run. */
const flush = () => new Promise((r) => setTimeout(r, 0));

function setup(opts: { storage?: StorageLike; win?: object; shipId?: string } = {}) {
  const socket = new FakeSocket();
  const timers = new FakeTimers();
  const storage = opts.storage ?? new MemoryStorage();
  const warnings: string[] = [];
  const dispatched: unknown[] = [];
  const { api, start } = createHullBrowser({
    win: opts.win ?? {},
    store: createStore(() => storage),
    socket,
    shipId: opts.shipId,
    dispatch: (d) => dispatched.push(d),
    setTimer: timers.set,
    clearTimer: timers.clear,
    warn: (m) => warnings.push(m),
  });
  return { api, start, socket, timers, storage, warnings, dispatched };
}

// ---- diff ------------------------------------------------------------------------------------

Deno.test("snippet diff - nested as the original's: changes.user.plan = [old, new]", () => {
  assert.deepEqual(
    diff({ user: { traits: { plan: "free" }, id: "u1" }, account: { "clearbit/employees": 10 } }, {
      user: { traits: { plan: "pro" }, id: "u1" },
      account: { "clearbit/employees": 50 },
    }),
    { user: { traits: { plan: ["free", "pro"] } }, account: { "clearbit/employees": [10, 50] } },
  );
});

Deno.test("snippet diff - arrays are leaves compared by JSON", () => {
  assert.deepEqual(diff({ segments: ["a"] }, { segments: ["a", "b"] }), {
    segments: [["a"], ["a", "b"]],
  });
  assert.deepEqual(diff({ segments: [{ x: 1 }] }, { segments: [{ x: 1 }] }), {});
});

Deno.test("snippet diff - removed and added keys carry undefined", () => {
  assert.deepEqual(diff({ user: { a: 1, n: null } }, { user: { b: 2 } }), {
    user: { a: [1, undefined], n: [null, undefined], b: [undefined, 2] },
  });
});

Deno.test("snippet diff - nothing changed (key order aside) gives an empty object", () => {
  assert.deepEqual(diff(payload("pro"), payload("pro")), {});
  assert.deepEqual(diff({ user: { a: 1, b: 2 } }, { user: { b: 2, a: 1 } }), {});
});

Deno.test("snippet diff - first payload is compared to nothing, part by part", () => {
  // The original diffed against `{}`: a part that was no object is a leaf.
  assert.deepEqual(diff(undefined, { user: { id: "u1" }, segments: [] }), {
    user: [undefined, { id: "u1" }],
    segments: [undefined, []],
  });
});

Deno.test("snippet diff - an object replaced by a value is one leaf", () => {
  assert.deepEqual(diff({ a: { b: 1, c: 2 }, d: 1 }, { a: 3, d: { e: 1 } }), {
    a: [{ b: 1, c: 2 }, 3],
    d: [1, { e: 1 }],
  });
});

// ---- endpoint --------------------------------------------------------------------------------

Deno.test("snippet endpoint - origin of currentScript src", () => {
  const s = script("https://hb.example.net/hull-browser.js?v=3");
  const found = findSnippetScript({ currentScript: s, getElementsByTagName: () => [] });
  assert.equal(found, s);
  assert.deepEqual(readConfig(found, "https://shop.example.com/"), {
    endpoint: "https://hb.example.net",
  });
});

Deno.test("snippet endpoint - falls back to the last hull-browser.js or ship.js script", () => {
  const scripts = [
    script("https://cdn.example.com/jquery.js"),
    script("https://old.example.net/ship.js"),
    script("https://hb.example.net/hull-browser.js#x"),
    script(""),
  ];
  const doc = { currentScript: null, getElementsByTagName: () => scripts };
  assert.equal(findSnippetScript(doc), scripts[2]);
  assert.equal(findSnippetScript({ getElementsByTagName: () => scripts.slice(0, 2) }), scripts[1]);
  assert.equal(findSnippetScript({ getElementsByTagName: () => [scripts[0]] }), undefined);
});

Deno.test("snippet endpoint - data-hull-endpoint overrides and data-hull-id is the shipId", () => {
  const s = script("https://cdn.example.com/hull-browser.js", {
    "data-hull-endpoint": "https://connector.example.net/5a1b2c3d",
    "data-hull-id": "5a1b2c3d",
  });
  assert.deepEqual(readConfig(s, "https://shop.example.com/"), {
    endpoint: "https://connector.example.net",
    shipId: "5a1b2c3d",
  });
});

Deno.test("snippet endpoint - data-hull-id picks the connector's namespace, never a guess", () => {
  assert.deepEqual(namespaceFor(undefined), { namespace: "/" });
  assert.deepEqual(namespaceFor(""), { namespace: "/" });
  assert.deepEqual(namespaceFor("5a1b2c3d4e5f60718293a4b5"), {
    namespace: "/5a1b2c3d4e5f60718293a4b5",
  });
  // The same id in capitals or with stray spaces: Hull's ids are lowercase.
  assert.deepEqual(namespaceFor(" 5A1B2C3D4E5F60718293A4B5 "), {
    namespace: "/5a1b2c3d4e5f60718293a4b5",
  });
  for (const bad of ["5a1b2c3d", "5a1b2c3d4e5f60718293a4b5/x", "../admin", "g".repeat(24)]) {
    const { namespace, warning } = namespaceFor(bad);
    assert.equal(namespace, "/", bad);
    assert.match(warning!, /is not a Hull connector id \(24 hexadecimal digits\)/);
  }
});

Deno.test("snippet endpoint - relative src resolves against the page; junk gives undefined", () => {
  assert.deepEqual(readConfig(script("/hull-browser.js"), "http://localhost:3000/a/b"), {
    endpoint: "http://localhost:3000",
  });
  assert.equal(readConfig(script("javascript:alert(1)"), "http://localhost/"), undefined);
  assert.equal(readConfig(script(""), "http://localhost/"), undefined);
  assert.equal(readConfig(undefined, "http://localhost/"), undefined);
});

// ---- identity --------------------------------------------------------------------------------

const segment = (id: unknown, anon: unknown, email?: string) => ({
  analytics: {
    user: () => ({ id: () => id, anonymousId: () => anon, traits: () => ({ email }) }),
  },
});

Deno.test("snippet identity - claims keep known string keys and drop empties", () => {
  assert.deepEqual(
    cleanClaims({
      email: " ada@example.com ",
      id: "",
      external_id: 42,
      junk: "x",
      anonymous_id: {},
    }),
    { external_id: "42", email: "ada@example.com" },
  );
  assert.equal(cleanClaims({ id: "  " }), undefined);
  assert.equal(cleanClaims(null), undefined);
  assert.equal(cleanClaims("user-1"), undefined);
});

Deno.test("snippet identity - Segment user id, anonymous id and email", () => {
  assert.deepEqual(fromSegment(segment("user-1001", "anon-1", "ada@example.com")), {
    external_id: "user-1001",
    email: "ada@example.com",
    anonymous_id: "anon-1",
  });
  assert.deepEqual(fromSegment(segment(null, "anon-1")), { anonymous_id: "anon-1" });
});

Deno.test("snippet identity - Segment stub, missing or throwing analytics yields nothing", () => {
  const stub = Object.assign([], { identify() {}, track() {} });
  assert.equal(fromSegment({ analytics: stub }), undefined);
  assert.equal(fromSegment({}), undefined);
  assert.equal(
    fromSegment({
      analytics: {
        user() {
          throw new Error("not ready");
        },
      },
    }),
    undefined,
  );
  assert.equal(fromSegment({ analytics: { user: () => ({ id: 5 }) } }), undefined);
});

Deno.test("snippet identity - Intercom visitor id is prefixed", () => {
  const intercom = (cmd: string) => (cmd === "getVisitorId" ? "64f1aa00b2" : undefined);
  assert.deepEqual(fromIntercom({ Intercom: intercom }), { anonymous_id: "intercom:64f1aa00b2" });
  assert.equal(fromIntercom({ Intercom: () => undefined }), undefined, "stub returns nothing");
  assert.equal(fromIntercom({ Intercom: "x" }), undefined);
});

Deno.test("snippet identity - Hull.js config anonymousId and current user", () => {
  const Hull = {
    config: () => ({ anonymousId: "hull-anon" }),
    currentUser: () => ({ id: "5f00a1", external_id: "user-1001", email: "ada@example.com" }),
  };
  assert.deepEqual(fromHull({ Hull }), {
    id: "5f00a1",
    external_id: "user-1001",
    email: "ada@example.com",
    anonymous_id: "hull-anon",
  });
  assert.deepEqual(fromHull({ Hull: { me: { id: "5f00a1" }, currentUser: () => false } }), {
    id: "5f00a1",
  });
  assert.equal(fromHull({ Hull: { config: () => ({}) } }), undefined);
});

Deno.test("snippet identity - the first source with ids wins, in priority order", () => {
  const win = { ...segment(null, "seg-anon"), Intercom: () => "ic", Hull: { me: { id: "h" } } };
  assert.deepEqual(discoverIdentity(win), {
    source: "segment",
    claims: { anonymous_id: "seg-anon" },
  });
  assert.deepEqual(discoverIdentity({ Intercom: () => undefined, Hull: { me: { id: "h" } } }), {
    source: "hull",
    claims: { id: "h" },
  });
  assert.equal(discoverIdentity({}), undefined);
  assert.deepEqual(cachedIdentity({ claims: { email: "a@b.c" }, hash: "h1" }), {
    source: "cache",
    claims: { email: "a@b.c" },
    hash: "h1",
  });
  assert.equal(cachedIdentity("garbage"), undefined);
});

// ---- cache -----------------------------------------------------------------------------------

Deno.test("snippet cache - broken or missing storage never throws", () => {
  for (
    const get of [() => brokenStorage, () => null, () => {
      throw new DOMException("no storage", "SecurityError");
    }]
  ) {
    const store = createStore(get);
    assert.equal(store.read(PAYLOAD_KEY), undefined);
    assert.equal(store.write(PAYLOAD_KEY, { a: 1 }), false);
    const state = createPayloadState(store);
    assert.ok(state.accept(payload("pro")));
    assert.equal(state.last()?.user.id, "u1", "works in memory");
  }
});

Deno.test("snippet cache - cached payload replays with changes undefined", () => {
  const storage = new MemoryStorage();
  createPayloadState(createStore(() => storage)).accept(payload("pro"));
  const state = createPayloadState(createStore(() => storage));
  const replay = state.replay();
  assert.ok(replay);
  assert.equal(replay.changes, undefined);
  assert.ok("changes" in replay);
  assert.ok(!("message" in replay));
  assert.deepEqual(replay.user, payload("pro").user);
});

Deno.test("snippet cache - an unchanged payload is no event, a changed one carries changes", () => {
  const storage = new MemoryStorage();
  const state = createPayloadState(createStore(() => storage));
  const first = state.accept(payload("free"));
  assert.ok(first?.changes);
  assert.deepEqual(first.changes.user, [undefined, payload("free").user]);
  assert.equal(state.accept(payload("free")), undefined);
  const next = state.accept(payload("pro", ["Trial users", "VIP"]));
  assert.deepEqual(next?.changes, {
    user: { traits: { plan: ["free", "pro"] } },
    segments: [["Trial users"], ["Trial users", "VIP"]],
  });
  assert.equal(JSON.parse(storage.getItem(PAYLOAD_KEY)!).user.traits.plan, "pro");
  assert.equal(JSON.parse(storage.getItem(PAYLOAD_KEY)!).message, undefined);
});

Deno.test("snippet cache - malformed pushes and corrupt cache are ignored", () => {
  const storage = new MemoryStorage();
  storage.setItem(PAYLOAD_KEY, "{not json");
  const state = createPayloadState(createStore(() => storage));
  assert.equal(state.replay(), undefined);
  for (const bad of [null, "x", {}, { user: "u1" }, { user: [] }]) {
    assert.equal(state.accept(bad), undefined);
  }
  const d = state.accept({ user: { id: "u1" } });
  assert.deepEqual(d && { ...d, changes: undefined }, {
    user: { id: "u1" },
    account: {},
    segments: [],
    account_segments: [],
    events: [],
    changes: undefined,
  });
});

Deno.test("snippet cache - details are copies: page mutations do not leak into state", () => {
  const state = createPayloadState(createStore(() => null));
  const d = state.accept(payload("pro"))!;
  (d.user.traits as Record<string, unknown>).plan = "hacked";
  state.last()!.segments.push("x");
  assert.equal(state.accept(payload("pro")), undefined);
});

// ---- emitter ---------------------------------------------------------------------------------

Deno.test("snippet emitter - a throwing listener does not stop the others", () => {
  const errors: unknown[] = [];
  const seen: number[] = [];
  const e = createEmitter((err) => errors.push(err));
  const bad = () => {
    throw new Error("page bug");
  };
  e.on("x", bad);
  e.on("x", (n) => seen.push(n));
  e.emit("x", 1);
  e.off("x", bad);
  e.emit("x", 2);
  e.off("x");
  e.emit("x", 3);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(errors.length, 1);
});

// ---- client (page API over stand-in socket, storage and timers) ----------------------------

Deno.test("snippet client - queued calls replay and get the cached payload", async () => {
  const storage = new MemoryStorage();
  storage.setItem(PAYLOAD_KEY, JSON.stringify(payload("pro")));
  const { api, start, dispatched } = setup({ storage });
  const got: unknown[] = [];
  start([["on", "user.update", (d: unknown) => got.push(d)], "junk", ["nope"]]);
  assert.equal(dispatched.length, 1, "DOM event dispatched at once");
  await flush();
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], { ...api.last(), changes: undefined });
});

Deno.test("snippet client - a late on() gets the last payload, once per listener", async () => {
  const { api, start, socket } = setup();
  start();
  socket.fire("user.update", payload("pro"));
  const late: { changes?: unknown }[] = [];
  api.on("user.update", (d) => late.push(d));
  const removed: unknown[] = [];
  const fn = (d: unknown) => removed.push(d);
  api.on("user.update", fn);
  api.off("user.update", fn);
  await flush();
  assert.equal(late.length, 1);
  assert.equal(late[0].changes, undefined);
  assert.equal(removed.length, 0, "off() before the replay cancels it");
});

Deno.test("snippet client - user.fetch on connect and again after every reconnect", () => {
  const { start, socket } = setup({ win: segment("user-1001", "anon-1"), shipId: "ship1" });
  start();
  assert.equal(socket.fetches().length, 0, "nothing sent while offline");
  socket.connect();
  socket.drop();
  socket.connect();
  const expected = {
    claims: { external_id: "user-1001", anonymous_id: "anon-1" },
    shipId: "ship1",
  };
  assert.deepEqual(socket.fetches(), [expected, expected]);
});

Deno.test("snippet client - identity retry grows to 2 s and stops once identified", () => {
  const win: Record<string, unknown> = {};
  const { start, socket, timers, storage } = setup({ win });
  start();
  socket.connect();
  for (let i = 0; i < 6; i++) timers.tick();
  assert.deepEqual(timers.delays, [
    RETRY_FIRST_MS,
    500,
    1000,
    RETRY_MAX_MS,
    RETRY_MAX_MS,
    RETRY_MAX_MS,
    RETRY_MAX_MS,
  ]);
  assert.equal(socket.fetches().length, 0);
  win.Intercom = () => "ic1";
  timers.tick();
  assert.deepEqual(socket.fetches(), [{ claims: { anonymous_id: "intercom:ic1" } }]);
  assert.equal(timers.pending.size, 0, "no more polling");
  assert.deepEqual(JSON.parse(storage.getItem(CLAIMS_KEY)!), {
    claims: { anonymous_id: "intercom:ic1" },
  });
});

Deno.test("snippet client - explicit identify wins and re-sends only new claims", () => {
  const { api, start, socket, timers, warnings } = setup({ win: {} });
  start([["identify", { email: "ada@example.com" }, "h1"]]);
  assert.equal(timers.pending.size, 0, "no discovery after an explicit identify");
  socket.connect();
  api.identify({ email: "ada@example.com" }, "h1");
  api.identify({ external_id: "user-1001" });
  api.identify({} as never);
  assert.deepEqual(socket.fetches(), [
    { claims: { email: "ada@example.com" }, hash: "h1" },
    { claims: { external_id: "user-1001" } },
  ]);
  assert.equal(warnings.length, 1);
});

Deno.test("snippet client - cached identity is used at once, then a live source replaces it", () => {
  const storage = new MemoryStorage();
  storage.setItem(CLAIMS_KEY, JSON.stringify({ claims: { anonymous_id: "old" } }));
  const win: Record<string, unknown> = {};
  const { start, socket, timers } = setup({ storage, win });
  start();
  socket.connect();
  assert.deepEqual(socket.fetches(), [{ claims: { anonymous_id: "old" } }]);
  timers.tick();
  assert.equal(socket.fetches().length, 1, "still polling live sources, nothing new");
  Object.assign(win, segment("user-1001", "old"));
  timers.tick();
  assert.deepEqual(socket.fetches()[1], {
    claims: { external_id: "user-1001", anonymous_id: "old" },
  });
  assert.equal(timers.pending.size, 0);
});

Deno.test("snippet client - pushes fire only on change and also go to the DOM", async () => {
  const { api, start, socket, dispatched } = setup();
  const got: { changes?: Record<string, unknown> }[] = [];
  api.on("user.update", (d) => got.push(d));
  start();
  socket.fire("user.update", payload("free"));
  socket.fire("user.update", payload("free"));
  socket.fire("user.update", payload("pro"));
  await flush();
  assert.equal(got.length, 2);
  assert.deepEqual(got[0].changes?.user, [undefined, payload("free").user]);
  assert.deepEqual(got[1].changes, { user: { traits: { plan: ["free", "pro"] } } });
  assert.deepEqual(dispatched, got);
  assert.equal(
    api.last()?.user.traits && (api.last()!.user.traits as { plan: string }).plan,
    "pro",
  );
});

Deno.test("snippet client - server close and refusals are logged as warnings", () => {
  const { api, start, socket, warnings } = setup();
  start();
  socket.fire("close", { message: "domain not whitelisted" });
  socket.fire("connect_error", new Error("timeout"));
  socket.active = false;
  socket.fire("connect_error", new Error("origin refused"));
  socket.active = true;
  socket.fire("connect_error", new Error("websocket error"));
  socket.active = false;
  socket.connected = false;
  const reconnects: number[] = [];
  socket.connect = () => void reconnects.push(1);
  api.identify({ email: "ada@example.com" });
  assert.equal(reconnects.length, 1, "new claims after a refusal reconnect");
  assert.deepEqual(warnings, [
    "[hull-browser] domain not whitelisted",
    "[hull-browser] cannot connect: timeout",
    "[hull-browser] cannot connect: origin refused",
  ]);
});

Deno.test("snippet cache - a push older than the shown version is dropped, even after reload", () => {
  const storage = new MemoryStorage();
  const state = createPayloadState(createStore(() => storage));
  assert.ok(state.accept({ ...payload("pro"), version: 200 }));
  assert.equal(state.accept({ ...payload("free"), version: 100 }), undefined, "older dropped");
  assert.deepEqual(state.last()?.user.traits, payload("pro").user.traits);
  const reloaded = createPayloadState(createStore(() => storage));
  assert.equal(reloaded.accept({ ...payload("free"), version: 150 }), undefined);
  const newer = reloaded.accept({ ...payload("enterprise"), version: 300 });
  assert.ok(newer);
  assert.ok(!("version" in newer.changes!), "version is not a change");
  // Another user's payload is never compared by version.
  assert.ok(reloaded.accept({ ...payload("free"), user: { id: "u2" }, version: 1 }));
});

Deno.test("snippet client - the one-line stub's queued identify/on/once/off replay in order", async () => {
  // The stub of docs/snippet.md, run against a stand-in window.
  // The stub refers to the global `hullBrowser`; emulate it with a page-like global scope.
  const page = { hullBrowser: undefined as unknown };
  new Function("window", `with (window) { ${STUB_JS} }`)(
    new Proxy(page, {
      has: () => true,
      get: (t, k) => k === "window" ? t : (t as Record<PropertyKey, unknown>)[k],
      set: (t, k, v) => ((t as Record<PropertyKey, unknown>)[k] = v, true),
    }),
  );
  const stub = page.hullBrowser as unknown[] & Record<string, Fn>;
  const seen: string[] = [];
  const every = (d: { user: { id: string } }) => seen.push("on:" + d.user.id);
  stub.on("user.update", every);
  stub.once("user.update", () => seen.push("once"));
  stub.on("room.joined", () => seen.push("joined"));
  stub.off("room.joined");
  stub.identify({ email: "ada@example.com" });
  assert.equal(stub.length, 5, "five calls queued");
  const { start, socket } = setup();
  socket.connected = true;
  start(stub);
  assert.deepEqual(socket.fetches(), [{ claims: { email: "ada@example.com" } }]);
  socket.fire("room.joined", { message: "ok" });
  socket.fire("user.update", payload("pro"));
  socket.fire("user.update", payload("enterprise"));
  await flush();
  assert.deepEqual(seen, ["on:u1", "once", "on:u1"]);
});

Deno.test("snippet client - a test push fires for an unchanged profile, marked test", () => {
  const { api, start, socket } = setup();
  const got: { test?: boolean; changes?: unknown }[] = [];
  start();
  api.on("user.update", (d) => got.push(d));
  socket.fire("user.update", payload("pro"));
  socket.fire("user.update", payload("pro"));
  assert.equal(got.length, 1, "an unchanged push is no event");
  socket.fire("user.update", { ...payload("pro"), test: true });
  assert.equal(got.length, 2);
  assert.equal(got[1].test, true);
  assert.deepEqual(got[1].changes, {});
  assert.equal(got[0].test, undefined);
});

Deno.test("snippet client - each warning once: refusals, server notes on room.joined", () => {
  const { start, socket, warnings } = setup();
  start();
  socket.active = false;
  for (let i = 0; i < 3; i++) {
    socket.fire("connect_error", new Error("origin https://evil.net is not whitelisted"));
    socket.fire("room.joined", { message: "ok", warning: "identity verification is required" });
  }
  assert.deepEqual(warnings, [
    "[hull-browser] cannot connect: origin https://evil.net is not whitelisted",
    "[hull-browser] identity verification is required",
  ]);
});
