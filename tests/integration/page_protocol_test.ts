/**
 * The socket protocol for pages of the original connector, with a real socket.io client:
 * `ajs_*` link claims (`user.fetch` `link`) are used only with identity verification off, and
 * `room.joined` carries the connector's `script` setting from Hull's `connector.settings`.
 */
import assert from "node:assert/strict";
import { signIdentity } from "../../lib/socket/verification.ts";
import { fixture, freshFixture, once, startTestServer } from "../helpers/server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const IDENTITY_SECRET = "identity-secret-0123456789abcdef";
const ADA = "ada@example.com";

Deno.test(
  "link claims - an ajs_ link identifies only with identity verification off",
  opts,
  async () => {
    for (const mode of ["off", "report", "required"]) {
      const t = await startTestServer({ env: { IDENTITY_SECRET, IDENTITY_MODE: mode } });
      try {
        assert.equal(
          (await t.postNotification(await freshFixture("user-update.json"))).status,
          200,
        );
        const s = t.connect();
        await once(s, "connect");
        const events: [string, unknown][] = [];
        s.onAny((event, data) => events.push([event, data]));
        const joined = once<{ warning?: string }>(s, "room.joined");
        const update = once<{ user: { email: string } }>(s, "user.update");
        s.emit("user.fetch", { claims: { email: ADA }, link: ["email"] });
        const first = await joined;
        if (mode === "off") {
          assert.equal((await update).user.email, ADA, mode);
          assert.equal(first.warning, undefined);
        } else {
          assert.match(first.warning ?? "", /email from an ajs_ link ignored/, mode);
          // The same email with the site's hash is served: nothing came for the link before.
          const hash = await signIdentity(IDENTITY_SECRET, "email", ADA);
          const second = once(s, "room.joined");
          s.emit("user.fetch", { claims: { email: ADA }, hash });
          await second;
          assert.deepEqual(
            events.slice(0, 2).map(([e]) => e),
            ["room.joined", "room.joined"],
            mode,
          );
          assert.equal((await update).user.email, ADA);
        }
      } finally {
        await t.close();
      }
    }
  },
);

Deno.test(
  "script setting - room.joined carries Hull's connector.settings.script",
  opts,
  async () => {
    const t = await startTestServer();
    try {
      const s1 = t.connect();
      await once(s1, "connect");
      const plain = once<Record<string, unknown>>(s1, "room.joined");
      s1.emit("user.fetch", { claims: { anonymous_id: "a1" } });
      assert.deepEqual(await plain, { message: "ok" }, "no script set: none sent");

      const ship = await fixture<Record<string, unknown>>("ship-update.json");
      ship.notification_id = crypto.randomUUID();
      ship.connector = { ...(ship.connector as object), settings: { script: "console.log(user)" } };
      assert.equal((await t.postNotification(ship)).status, 200);
      assert.equal(t.server.ctx.live.settings.script, "console.log(user)");
      const s2 = t.connect();
      await once(s2, "connect");
      const joined = once<Record<string, unknown>>(s2, "room.joined");
      s2.emit("user.fetch", { claims: { anonymous_id: "a1" } });
      assert.deepEqual(await joined, { message: "ok", script: "console.log(user)" });
    } finally {
      await t.close();
    }
  },
);
