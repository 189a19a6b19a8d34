/**
 * The server's side of the original connector's pages: the manifest's `index` and `script`
 * setting, the script read from Hull's `connector.settings`, `room.joined` carrying it, and
 * `ajs_*` link claims used only with identity verification off.
 */
import assert from "node:assert/strict";
import { connectorManifest } from "../../lib/hull/manifest.ts";
import {
  hullSettingsOf,
  MAX_SCRIPT_LENGTH,
  readHullSettings,
} from "../../lib/hull/settings_sync.ts";
import { parseFetchRequest } from "../../lib/identity.ts";
import { joinedMessage, linkClaims } from "../../lib/socket/user_fetch.ts";

Deno.test("manifest - index ship.js and the original's script setting", () => {
  const m = connectorManifest() as {
    index: string;
    settings: { name: string; format: string; type: string; default?: unknown }[];
  };
  assert.equal(m.index, "ship.js");
  const script = m.settings.find((s) => s.name === "script");
  assert.ok(script);
  assert.equal(script.format, "code");
  assert.equal(script.type, "string");
  assert.equal(script.default, undefined, "no default: no code unless someone writes it");
});

Deno.test("hull settings - script comes from connector.settings, checked", () => {
  const connector = {
    settings: { script: "console.log(user)" },
    private_settings: { public_traits: ["email"] },
  };
  const read = readHullSettings(hullSettingsOf(connector), false);
  assert.equal(read.settings.script, "console.log(user)");
  assert.deepEqual(read.settings.public_traits, ["email"]);
  assert.ok(read.keys.includes("script"));
  // Cleared in Hull: an empty script is a value (no code), absent keeps the old one.
  assert.equal(
    readHullSettings(hullSettingsOf({ settings: { script: "" } }), false).settings.script,
    "",
  );
  assert.deepEqual(hullSettingsOf({ private_settings: { a: 1 }, settings: {} }), { a: 1 });
  for (const bad of [42, "x".repeat(MAX_SCRIPT_LENGTH + 1)]) {
    const r = readHullSettings(hullSettingsOf({ settings: { script: bad } }), false);
    assert.equal(r.settings.script, undefined);
    assert.match(r.problems.join(), /script must be text/);
  }
  assert.equal(hullSettingsOf(null), undefined);
});

Deno.test("room.joined - carries warnings and the script setting when set", () => {
  assert.deepEqual(joinedMessage([], undefined), { message: "ok" });
  assert.deepEqual(joinedMessage([], ""), { message: "ok" });
  assert.deepEqual(joinedMessage(["a", "b"], "run()"), {
    message: "ok",
    warning: "a; b",
    script: "run()",
  });
});

Deno.test("link claims - kept with verification off, dropped in report and required", () => {
  const req = parseFetchRequest({
    claims: { email: "ada@example.com", anonymous_id: "a1" },
    link: ["email", "nonsense"],
  });
  assert.ok(req.ok);
  assert.deepEqual(req.link, ["email"]);
  assert.deepEqual(linkClaims(req.identifiers, req.link, "off").dropped, []);
  for (const mode of ["report", "required"] as const) {
    const { kept, dropped } = linkClaims(req.identifiers, req.link, mode);
    assert.deepEqual(kept, [{ type: "anonymous_id", value: "a1" }]);
    assert.deepEqual(dropped, [{ type: "email", value: "ada@example.com" }]);
  }
  assert.equal(parseFetchRequest({ claims: { email: "a@b.co" }, link: "email" }).ok, false);
  const none = parseFetchRequest({ claims: { email: "a@b.co" } });
  assert.ok(none.ok);
  assert.deepEqual(none.link, []);
});
