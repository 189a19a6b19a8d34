/**
 * Eviction (Deno Deploy sends SIGINT with 5 s notice; self-hosted orchestrators SIGTERM):
 * two instances share one store behind a balancer; the one holding the visitor is stopped in
 * the middle of a stream of webhooks. No acknowledged update may be lost, and the visitor
 * must reconnect to the survivor and end up with the latest profile.
 */
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { bootMain, startBalancer } from "../helpers/process.ts";
import { fixture, postSigned, SECRET, WEBHOOK_SECRET } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  version: number;
  seq: number;
}

Deno.test({
  name: "eviction - SIGTERM mid-stream loses no acknowledged update; clients land on the survivor",
  ...opts,
  async fn() {
    const kvPath = await Deno.makeTempFile({ suffix: ".sqlite" });
    const env = {
      KV_PATH: kvPath,
      SECRET,
      WEBHOOK_SECRET,
      WHITELISTED_DOMAINS: "localhost",
      PUBLIC_TRAITS: "traits_seq",
    };
    const first = await bootMain(env);
    const second = await bootMain(env);
    let firstAlive = true;
    const lb = startBalancer(() => firstAlive ? [first.port, second.port] : [second.port]);
    const base = await fixture<Record<string, unknown>>("user-update.json");
    const message = (base.messages as Record<string, unknown>[])[0];
    const user = message.user as Record<string, unknown>;

    // The visitor's socket, with reconnection on, identifying on every connect like the snippet.
    const socket = io(lb.url, {
      transports: ["websocket"],
      extraHeaders: { origin: "http://localhost" },
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
    });
    const seen: Seen[] = [];
    let connects = 0;
    socket.on("connect", () => {
      connects++;
      socket.emit("user.fetch", { claims: { external_id: "user-1001" } });
    });
    socket.on("user.update", (p: { version: number; user: { traits: { seq: number } } }) => {
      seen.push({ version: p.version, seq: p.user.traits.seq });
    });

    const acknowledged: number[] = [];
    const post = async (seq: number) => {
      const raw = JSON.stringify({
        ...base,
        notification_id: crypto.randomUUID(),
        messages: [{ ...message, user: { ...user, traits_seq: seq } }],
      });
      // Like Hull: retry until the connector acknowledges (a refused or cut request is not).
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          const res = await postSigned(lb.url, raw);
          await res.body?.cancel();
          if (res.status === 200) return acknowledged.push(seq);
        } catch { /* connection refused or reset mid-eviction: retry */ }
        // Paces the retries like Hull's backoff; the outcome does not depend on it (the loop
        // ends on the acknowledgement).
        await sleep(20);
      }
      throw new Error(`update ${seq} was never acknowledged`);
    };

    try {
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      let seq = 0;
      for (; seq < 20; seq++) await post(seq);
      // SIGTERM right after update 19's acknowledgement, while updates 20+ are being posted.
      const exited = (async () => {
        first.child.kill("SIGTERM");
        const status = await first.child.status;
        firstAlive = false;
        return status.code;
      })();
      for (; seq < 60; seq++) await post(seq);
      assert.equal(await exited, 0, "the evicted instance exits cleanly");
      for (; seq < 70; seq++) await post(seq);

      assert.deepEqual(acknowledged, Array.from({ length: 70 }, (_, i) => i));
      // The survivor serves the last acknowledged update to a new visitor.
      const fresh = io(lb.url, {
        transports: ["websocket"],
        reconnection: false,
        extraHeaders: { origin: "http://localhost" },
      });
      const known = await new Promise<{ user: { traits: { seq: number } } }>((resolve) => {
        fresh.once(
          "connect",
          () => fresh.emit("user.fetch", { claims: { email: "ada@example.com" } }),
        );
        fresh.once("user.update", resolve);
      });
      fresh.close();
      assert.equal(known.user.traits.seq, 69);
      // The evicted visitor reconnected, identified again and shows the newest profile
      // (pages keep the highest version they saw).
      await waitFor(() => connects >= 2 && seen.some((s) => s.seq === 69), {
        what: "the evicted visitor reconnected and shown update 69",
      }).catch(() => {/* the assertions below say what is missing */});
      assert.ok(connects >= 2, `reconnected (${connects} connects)`);
      const shown = seen.reduce((a, b) => (b.version >= a.version ? b : a));
      assert.equal(shown.seq, 69);
    } finally {
      socket.close();
      lb.close();
      for (const p of [first, second]) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* exited */ }
        await p.child.status;
      }
    }
  },
});
