/**
 * Abuse limits trip at their threshold and not before; observe mode only logs and counts.
 */
import assert from "node:assert/strict";
import { once, startTestServer, type TestServer } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function connects(t: TestServer): Promise<boolean> {
  const s = t.connect();
  try {
    return await new Promise<boolean>((resolve) => {
      s.once("connect", () => resolve(true));
      s.once("connect_error", () => resolve(false));
    });
  } finally {
    s.close();
  }
}

async function counters(t: TestServer): Promise<Record<string, number>> {
  return (await (await fetch(`${t.url}/healthz`)).json()).counters;
}

/** Sends `user.fetch` messages in order; resolves with "closed: <message>" or "ok". */
async function fetches(t: TestServer, messages: unknown[]): Promise<string[]> {
  const s = t.connect();
  await once(s, "connect");
  const results: string[] = [];
  let closed: string | null = null;
  s.on("close", (m: { message: string }) => (closed = m.message));
  for (const m of messages) {
    const joined = once(s, "room.joined", 1000).then(() => "ok", () => "none");
    s.emit("user.fetch", m);
    const r = await Promise.race([
      joined,
      once<{ message: string }>(s, "close", 1000).then((c) => `closed: ${c.message}`, () => "none"),
    ]);
    results.push(closed ? `closed: ${closed}` : r);
    if (closed) break;
  }
  s.close();
  return results;
}

for (const mode of ["enforce", "observe"] as const) {
  Deno.test({
    name: `limits (${mode}) - new connections per IP per minute`,
    ...opts,
    async fn() {
      const t = await startTestServer({
        env: { LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "3", LIMITS_MODE: mode },
      });
      try {
        for (let i = 0; i < 3; i++) assert.equal(await connects(t), true, `connection ${i + 1}`);
        assert.equal(await connects(t), mode === "observe", "fourth connection");
        assert.equal((await counters(t))["limit.connectionsPerIpPerMinute"], 1);
      } finally {
        await t.close();
      }
    },
  });

  Deno.test({
    name: `limits (${mode}) - user.fetch per socket per minute`,
    ...opts,
    async fn() {
      const t = await startTestServer({
        env: { LIMIT_FETCHES_PER_SOCKET_PER_MINUTE: "3", LIMITS_MODE: mode },
      });
      try {
        const msg = { claims: { anonymous_id: "anon-1" } };
        const r = await fetches(t, [msg, msg, msg, msg]);
        assert.deepEqual(r.slice(0, 3), ["ok", "ok", "ok"]);
        if (mode === "enforce") assert.match(r[3], /^closed: too many requests/);
        else assert.equal(r[3], "ok");
        assert.equal((await counters(t))["limit.fetchesPerSocketPerMinute"], 1);
      } finally {
        await t.close();
      }
    },
  });

  Deno.test({
    name: `limits (${mode}) - identifiers and rooms per socket`,
    ...opts,
    async fn() {
      const t = await startTestServer({
        env: { LIMIT_IDENTIFIERS_PER_SOCKET: "2", LIMIT_ROOMS_PER_SOCKET: "8", LIMITS_MODE: mode },
      });
      try {
        const r = await fetches(t, [
          { claims: { anonymous_id: "a" } },
          { claims: { anonymous_id: "b" } },
          { claims: { anonymous_id: "a" } }, // already held: not a new identifier
          { claims: { anonymous_id: "c" } },
        ]);
        assert.deepEqual(r.slice(0, 3), ["ok", "ok", "ok"]);
        if (mode === "enforce") assert.match(r[3], /^closed: too many identifiers/);
        else assert.equal(r[3], "ok");
        const rooms = await startTestServer({
          env: {
            LIMIT_IDENTIFIERS_PER_SOCKET: "8",
            LIMIT_ROOMS_PER_SOCKET: "1",
            LIMITS_MODE: mode,
          },
        });
        try {
          const r2 = await fetches(rooms, [
            { claims: { anonymous_id: "a" } },
            { claims: { anonymous_id: "b" } },
          ]);
          assert.equal(r2[0], "ok");
          if (mode === "enforce") assert.match(r2[1], /^closed: too many rooms/);
          else assert.equal(r2[1], "ok");
        } finally {
          await rooms.close();
        }
      } finally {
        await t.close();
      }
    },
  });

  Deno.test({
    name: `limits (${mode}) - socket message size`,
    ...opts,
    async fn() {
      const t = await startTestServer({ env: { LIMIT_MESSAGE_BYTES: "2000", LIMITS_MODE: mode } });
      try {
        const small = { claims: { anonymous_id: "a" }, pad: "x".repeat(1500) };
        const big = { claims: { anonymous_id: "b" }, pad: "x".repeat(4000) };
        const s = t.connect();
        await once(s, "connect");
        const joined = once(s, "room.joined");
        s.emit("user.fetch", small);
        await joined;
        const next = Promise.race([
          once(s, "room.joined", 1500).then(() => "ok"),
          once<string>(s, "disconnect", 1500).then(() => "dropped"),
        ]);
        s.emit("user.fetch", big);
        assert.equal(await next, mode === "enforce" ? "dropped" : "ok");
        s.close();
        if (mode === "observe") assert.equal((await counters(t))["limit.messageBytes"], 1);
      } finally {
        await t.close();
      }
    },
  });
}
