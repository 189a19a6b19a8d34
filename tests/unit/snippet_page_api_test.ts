/**
 * The original connector's page API on our snippet, with stand-ins (window, storage, socket):
 * the EventEmitter2 surface, Hull.js's emitter, the `hull_browser` cache, `ajs_*` link claims
 * marked for the server, and the opted-in `script` setting.
 */
import assert from "node:assert/strict";
import { createEmitter, matches } from "../../lib/snippet/emitter.ts";
import { createStore, LEGACY_PAYLOAD_KEY, type StorageLike } from "../../lib/snippet/cache.ts";
import { createHullBrowser, type SocketLike } from "../../lib/snippet/client.ts";
import { createScriptRunner, CSP_BLOCKED, NOT_ALLOWED } from "../../lib/snippet/script.ts";
import { textOf } from "../../lib/snippet/personalize.ts";

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => void;

class MemoryStorage implements StorageLike {
  map = new Map<string, string>();
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.map.set(key, String(value));
  }
}

class FakeSocket implements SocketLike {
  connected = true;
  handlers: Record<string, Fn[]> = {};
  sent: unknown[] = [];
  on(event: string, fn: Fn) {
    (this.handlers[event] ||= []).push(fn);
  }
  emit(_event: string, arg: unknown) {
    this.sent.push(arg);
  }
  fire(event: string, ...args: unknown[]) {
    for (const fn of this.handlers[event] || []) fn(...args);
  }
}

const payload = (plan: string) => ({
  message: "ok",
  user: { id: "u1", email: "ada@example.com", traits: { plan } },
  account: { "clearbit/employees": 50 },
  segments: ["Trial users"],
  account_segments: [],
  events: [],
});

const flush = () => new Promise((r) => setTimeout(r, 0));

function setup(
  opts: { storage?: MemoryStorage; win?: object; search?: string; allowScript?: boolean } = {},
) {
  const socket = new FakeSocket();
  const storage = opts.storage ?? new MemoryStorage();
  const warnings: string[] = [];
  const { api, start } = createHullBrowser({
    win: opts.win ?? {},
    store: createStore(() => storage),
    socket,
    search: opts.search,
    allowScript: opts.allowScript,
    setTimer: () => 0,
    clearTimer: () => {},
    warn: (m) => warnings.push(m),
  });
  return { api, start, socket, storage, warnings };
}

// ---- emitter ---------------------------------------------------------------------------------

Deno.test("snippet emitter - wildcards match one segment with *, any with **", () => {
  assert.ok(matches("user.*", "user.update"));
  assert.ok(!matches("user.*", "user.update.x"));
  assert.ok(!matches("user.*", "room.joined"));
  assert.ok(matches("**", "user.update"));
  assert.ok(matches("user.**", "user.update.x"));
  assert.ok(matches("*.update", "user.update"));
  assert.ok(!matches("user.update", "user.delete"));
});

Deno.test("snippet emitter - once, many, off, removeAll, onAny and offAny", () => {
  const e = createEmitter();
  const seen: string[] = [];
  e.many("x", 2, (n) => seen.push("many" + n));
  e.many("x", 1, (n) => seen.push("once" + n));
  const on = (n: number) => seen.push("on" + n);
  e.on("x", on);
  e.on("x", on);
  const any = (name: string, n: number) => seen.push(`any:${name}:${n}`);
  e.onAny(any);
  assert.equal(e.emit("x", 1), true);
  e.off("x", on); // one registration of the two
  e.emit("x", 2);
  e.offAny(any);
  e.emit("x", 3);
  e.removeAll("x");
  assert.equal(e.emit("x", 4), false);
  assert.deepEqual(seen, [
    "many1",
    "once1",
    "on1",
    "on1",
    "any:x:1",
    "many2",
    "on2",
    "any:x:2",
    "on3",
  ]);
});

Deno.test("snippet emitter - listeners may add and remove listeners while called", () => {
  const e = createEmitter();
  const seen: string[] = [];
  const b = () => seen.push("b");
  e.on("x", () => {
    seen.push("a");
    e.off("x", b);
    e.on("x", () => seen.push("c"));
  });
  e.on("x", b);
  e.emit("x");
  e.emit("x");
  assert.deepEqual(seen, ["a", "a", "c"]);
});

// ---- page API --------------------------------------------------------------------------------

Deno.test("snippet page API - the original readme's forms: on, once, many, onAny, user.*", async () => {
  const storage = new MemoryStorage();
  const { api, start, socket } = setup({ storage });
  start();
  const seen: string[] = [];
  api.on("user.*", (d) => seen.push("wild:" + (d.user.traits as { plan: string }).plan));
  api.once("user.update", () => seen.push("once"));
  api.many("user.update", 2, () => seen.push("many"));
  api.onAny((name: string) => seen.push("any:" + name));
  socket.fire("user.update", payload("free"));
  socket.fire("user.update", payload("pro"));
  socket.fire("user.update", payload("enterprise"));
  api.removeListener("user.*", () => {}); // unknown listener: nothing happens
  await flush();
  assert.deepEqual(seen, [
    "wild:free",
    "once",
    "many",
    "any:user.update",
    "wild:pro",
    "many",
    "any:user.update",
    "wild:enterprise",
    "any:user.update",
  ]);
  const mine: unknown[] = [];
  api.on("custom.event", (x) => mine.push(x));
  assert.equal(api.emit("custom.event", 42), true);
  assert.deepEqual(mine, [42]);
});

Deno.test("snippet page API - Hull.js on the page also gets every update", () => {
  const hullSeen: [string, unknown][] = [];
  const win = { Hull: { emit: (name: string, d: unknown) => hullSeen.push([name, d]) } };
  const { start, socket } = setup({ win });
  start();
  socket.fire("user.update", payload("pro"));
  assert.equal(hullSeen.length, 1);
  assert.equal(hullSeen[0][0], "user.update");
  assert.deepEqual((hullSeen[0][1] as { changes: unknown }).changes, {
    user: [undefined, payload("pro").user],
    account: [undefined, payload("pro").account],
    segments: [undefined, ["Trial users"]],
    account_segments: [undefined, []],
    events: [undefined, []],
  });
});

Deno.test("snippet page API - the original's hull_browser cache replays on first load", () => {
  const storage = new MemoryStorage();
  storage.setItem(LEGACY_PAYLOAD_KEY, JSON.stringify({ ...payload("legacy"), script: "" }));
  const { api, start, socket } = setup({ storage });
  const got: { changes?: unknown; user: { traits: { plan: string } } }[] = [];
  start([["on", "user.update", (d: (typeof got)[0]) => got.push(d)]]);
  assert.equal(got.length, 1, "replayed at once");
  assert.equal(got[0].changes, undefined);
  assert.equal(got[0].user.traits.plan, "legacy");
  socket.fire("user.update", payload("legacy"));
  assert.equal(got.length, 1, "the same profile pushed is no change");
  socket.fire("user.update", payload("pro"));
  assert.deepEqual(got[1].changes, { user: { traits: { plan: ["legacy", "pro"] } } });
  assert.equal(api.last()?.user.id, "u1");
  // An original cache without a user id (its "deleted" state) is no replay.
  const empty = new MemoryStorage();
  empty.setItem(LEGACY_PAYLOAD_KEY, "undefined");
  assert.equal(setup({ storage: empty }).api.last(), undefined);
});

Deno.test("snippet page API - ajs_* link claims are sent marked, with a hash unmarked", () => {
  const plain = setup({ search: "?ajs_email=ada%40example.com&ajs_aid=a1" });
  plain.start();
  assert.deepEqual(plain.socket.sent, [{
    claims: { email: "ada@example.com", anonymous_id: "a1" },
    link: ["email", "anonymous_id"],
  }]);
  // Segment picked the link up, with an anonymous id of its own: only the planted value is marked.
  const win = {
    analytics: {
      user: () => ({
        id: () => null,
        anonymousId: () => "seg-anon",
        traits: () => ({ email: "ada@example.com" }),
      }),
    },
  };
  const segment = setup({ win, search: "?ajs_email=ada%40example.com" });
  segment.start();
  assert.deepEqual(segment.socket.sent, [{
    claims: { email: "ada@example.com", anonymous_id: "seg-anon" },
    link: ["email"],
  }]);
  const signed = setup({ search: "?ajs_email=ada%40example.com&ajs_hash=f00d" });
  signed.start();
  assert.deepEqual(signed.socket.sent, [{ claims: { email: "ada@example.com" }, hash: "f00d" }]);
});

Deno.test("snippet page API - the script setting runs only with data-allow-script", () => {
  const runs: unknown[][] = [];
  (globalThis as Record<string, unknown>).__runs = runs;
  const code = "__runs.push([user.id, segments, account, account_segments, events, changes])";
  const allowed = setup({ allowScript: true });
  allowed.start();
  allowed.socket.fire("room.joined", { message: "ok", script: code });
  allowed.socket.fire("user.update", payload("pro"));
  assert.equal(runs.length, 1);
  assert.equal(runs[0][0], "u1");
  assert.deepEqual(runs[0][2], { "clearbit/employees": 50 });

  // The script is kept for the next page load, where it runs on the replay.
  const reload = setup({ storage: allowed.storage, allowScript: true });
  reload.start();
  assert.equal(runs.length, 2);
  assert.equal(runs[1][5], undefined, "changes undefined on page load");

  const refused = setup({ storage: allowed.storage });
  refused.start();
  refused.socket.fire("user.update", payload("enterprise"));
  assert.equal(runs.length, 2, "not run without the opt-in");
  assert.deepEqual(refused.warnings, [NOT_ALLOWED], "said once");
  delete (globalThis as Record<string, unknown>).__runs;
});

Deno.test("snippet script - a CSP refusal is reported as a warning, not thrown", () => {
  const warnings: string[] = [];
  const run = createScriptRunner(true, (m) => warnings.push(m));
  const realFunction = globalThis.Function;
  try {
    // What a CSP without 'unsafe-eval' does to `new Function`.
    globalThis.Function = function () {
      throw new EvalError("Refused to evaluate a string as JavaScript");
    } as unknown as FunctionConstructor;
    run("x()", {});
    run("x()", {});
  } finally {
    globalThis.Function = realFunction;
  }
  assert.deepEqual(warnings, [CSP_BLOCKED, CSP_BLOCKED]);
  run("", {});
  assert.equal(warnings.length, 2, "no script, nothing to say");
});

Deno.test("snippet personalize - data-hull-text paths of user and account", () => {
  const data = {
    user: { email: "ada@example.com", traits: { plan: "pro" }, n: 3, list: ["a", "b"] },
    account: { "clearbit/employees": 50, name: "Acme" },
  };
  assert.equal(textOf(data, "email"), "ada@example.com");
  assert.equal(textOf(data, "traits.plan"), "pro");
  assert.equal(textOf(data, "n"), "3");
  assert.equal(textOf(data, "list"), "a, b");
  assert.equal(textOf(data, "account.clearbit/employees"), "50");
  assert.equal(textOf(data, "account.name"), "Acme");
  assert.equal(textOf(data, "traits"), undefined, "objects are not shown");
  assert.equal(textOf(data, "missing.path"), undefined);
  assert.equal(textOf(data, "constructor"), undefined, "own properties only");
});
