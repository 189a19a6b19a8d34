/**
 * Fuzzing a running server with hostile webhook bodies and socket messages: random JSON, deep
 * nesting, huge strings, wrong types, prototype-pollution keys. No crash, no unhandled
 * rejection, no state change, and every webhook is refused with 400, 401 or 413 (a batch whose
 * only message is malformed gets 200 with that message skipped).
 */
import assert from "node:assert/strict";
import { signHmac } from "../../lib/webhook/signature.ts";
import type { KvStore } from "../../lib/store/kv_store.ts";
import { fixture, once, startTestServer, WEBHOOK_SECRET } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"];

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 4 ? 5 : 8));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return r() < 0.1 ? Number.MAX_SAFE_INTEGER : Math.floor(r() * 1e6) - 5e5;
    case 3:
      return "x".repeat(Math.floor(r() * (r() < 0.05 ? 200_000 : 40)));
    case 4:
      return "\u0000\ud800<script>'\"";
    case 5:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(r() * 4); i++) {
        const key = r() < 0.3 ? HOSTILE_KEYS[Math.floor(r() * HOSTILE_KEYS.length)] : `k${i}`;
        o[key] = randomValue(r, depth + 1);
      }
      return o;
    }
  }
}

function deepNest(n: number): string {
  return "[".repeat(n) + "]".repeat(n);
}

/** Mutates a valid notification into an invalid one (every mutation breaks the shape). */
function breakShape(valid: Record<string, unknown>, r: () => number): unknown {
  const n = structuredClone(valid) as Record<string, unknown>;
  const messages = n.messages as Record<string, unknown>[];
  const choice = Math.floor(r() * 8);
  switch (choice) {
    case 0:
      delete n.notification_id;
      break;
    case 1:
      n.channel = randomValue(r, 5) ?? 1;
      if (typeof n.channel === "string" && n.channel) n.channel = 7;
      break;
    case 2:
      n.messages = randomValue(r, 5);
      if (Array.isArray(n.messages)) n.messages = { not: "an array" };
      break;
    case 3:
      messages[0].user = randomValue(r, 5);
      if (messages[0].user && typeof messages[0].user === "object") messages[0].user = "nope";
      break;
    case 4:
      (messages[0].user as Record<string, unknown>).id = r() < 0.5 ? 42 : "";
      break;
    case 5:
      messages[0].segments = r() < 0.5 ? "seg" : [{ id: 5 }];
      break;
    case 6:
      messages[0].account = [1, 2];
      break;
    default:
      n.notification_id = { __proto__: { polluted: true } };
  }
  return n;
}

Deno.test({
  name: "fuzz - thousands of hostile webhooks and socket messages change nothing",
  ...opts,
  async fn() {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: PromiseRejectionEvent) => {
      unhandled.push(e.reason);
      e.preventDefault();
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    const t = await startTestServer();
    const r = rng(Number(Deno.env.get("FUZZ_SEED") ?? 20261128));
    const valid = await fixture<Record<string, unknown>>("user-update.json");
    try {
      const statuses = new Map<number, number>();
      // sign: true signs the body; a string is sent as the signature header as it is.
      const post = async (body: string | Uint8Array<ArrayBuffer>, sign: boolean | string) => {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (sign === true) {
          headers["x-hull-browser-signature"] = await signHmac(WEBHOOK_SECRET, body);
        } else if (sign) headers["x-hull-browser-signature"] = sign;
        const res = await fetch(`${t.url}/smart-notifier`, { method: "POST", headers, body });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const json = JSON.parse(text);
        if (res.status === 200) {
          // A batch whose one message is malformed: that message is skipped, nothing applied.
          assert.ok(json.skipped >= 1, text.slice(0, 200));
          return;
        }
        assert.ok([400, 401, 413].includes(res.status), `${res.status}: ${text.slice(0, 200)}`);
        assert.equal(typeof json.error, "string");
      };
      const bodies: [string | Uint8Array<ArrayBuffer>, boolean | string][] = [];
      const now = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 1500; i++) {
        const kind = i % 5;
        if (kind === 0) bodies.push([JSON.stringify(randomValue(r)) ?? "null", true]);
        else if (kind === 1) bodies.push([JSON.stringify(breakShape(valid, r)), true]);
        else if (kind === 2) bodies.push([JSON.stringify(valid), false]); // unsigned
        else if (kind === 3) {
          // A valid body with a signature for other bytes (tampered), stale, or garbage.
          const body = JSON.stringify(valid);
          const sig = [
            await signHmac(WEBHOOK_SECRET, body + " "),
            await signHmac(WEBHOOK_SECRET, body, now - 400),
            JSON.stringify(randomValue(r)) ?? "",
          ][Math.floor(r() * 3)];
          bodies.push([body, sig || "t="]);
        } else bodies.push([r() < 0.5 ? deepNest(2 + Math.floor(r() * 5000)) : "{", true]);
      }
      bodies.push([new Uint8Array(20 * 1024 * 1024 + 1), true]);
      for (let i = 0; i < bodies.length; i += 25) {
        await Promise.all(bodies.slice(i, i + 25).map(([b, s]) => post(b, s)));
      }

      // Socket side: random and hostile user.fetch payloads over a handful of connections.
      let sent = 0;
      while (sent < 1500) {
        const s = t.connect();
        await once(s, "connect");
        for (let i = 0; i < 100 && s.connected; i++, sent++) {
          const v = r() < 0.5 ? randomValue(r) : { claims: randomValue(r), hash: randomValue(r) };
          s.emit(r() < 0.9 ? "user.fetch" : JSON.stringify(randomValue(r)) ?? "x", v);
        }
        await new Promise((res) => setTimeout(res, 20));
        s.close();
      }

      assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
      assert.equal(unhandled.length, 0, String(unhandled[0]));
      const health = await fetch(`${t.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const kv = (t.server.ctx.store as KvStore).kv;
      for (const prefix of ["profiles", "ident", "notifications", "profile_parts"]) {
        const keys = await Array.fromAsync(kv.list({ prefix: [prefix] }));
        assert.equal(keys.length, 0, `state changed under ${prefix}`);
      }
      console.log(
        `fuzz: ${bodies.length} webhooks ${JSON.stringify([...statuses])}, ${sent} socket messages`,
      );
    } finally {
      globalThis.removeEventListener("unhandledrejection", onUnhandled);
      await t.close();
    }
  },
});
