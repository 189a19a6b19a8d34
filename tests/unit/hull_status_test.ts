import assert from "node:assert/strict";
import {
  API_WINDOW_MS,
  connectorStatus,
  QUIET_MS,
  type StatusInput,
} from "../../lib/hull/status.ts";

const NOW = Date.UTC(2026, 11, 4, 12);
const base = (over: Partial<StatusInput> = {}): StatusInput => ({
  connection: { updated_at: NOW - 1000, secret_readable: true, organization_allowed: true },
  managed: { managed: {}, problems: [], refused: null },
  health: { last_notification: NOW - 1000 },
  now: NOW,
  ...over,
});

Deno.test("connector status - setupRequired before any notification, ok when all is well", () => {
  assert.equal(connectorStatus(base({ connection: null })).status, "setupRequired");
  assert.deepEqual(connectorStatus(base()), { status: "ok", messages: [] });
});

Deno.test("connector status - no traffic for a day is a warning (the clock is the input's)", () => {
  const quiet = base({
    connection: {
      updated_at: NOW - QUIET_MS - 3600_000,
      secret_readable: true,
      organization_allowed: true,
    },
    health: { last_notification: NOW - QUIET_MS - 3600_000 },
  });
  const s = connectorStatus(quiet);
  assert.equal(s.status, "warning");
  assert.match(s.messages[0], /no notification from Hull for 25 hours/);
});

Deno.test("connector status - the worst check wins; an old or recovered API failure weighs less", () => {
  const failed = { at: NOW - 60_000, reason: "Hull answered 500" };
  assert.equal(connectorStatus(base({ health: { api_failed: failed } })).status, "error");
  assert.equal(
    connectorStatus(base({ health: { api_failed: failed, api_ok: NOW - 1000 } })).status,
    "warning",
  );
  const old = { at: NOW - API_WINDOW_MS - 1, reason: "Hull answered 500" };
  assert.equal(
    connectorStatus(base({ health: { api_failed: old, last_notification: NOW } })).status,
    "ok",
  );
  const refused = connectorStatus(base({
    managed: { managed: {}, problems: ["x"], refused: { reason: "too large", at: "t" } },
  }));
  assert.equal(refused.status, "error");
  assert.equal(refused.messages.length, 2);
});
