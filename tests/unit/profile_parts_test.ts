import assert from "node:assert/strict";
import { type CpuProfile, partOf, profileParts } from "../../bench/profile_parts.ts";

const frame = (functionName: string, url = "") => ({ functionName, url });
const LIB = "file:///app/lib";
const NPM = "file:///root/.cache/deno/npm/registry.npmjs.org";

Deno.test("profile parts - a stack goes to its innermost application frame's part", () => {
  const kvWrite = [
    frame("op_kv_atomic_write"),
    frame("commit", "ext:deno_kv/01_db.ts"),
    frame("saveProfiles", `${LIB}/store/kv_profiles.ts`),
    frame("processNotification", `${LIB}/webhook/notifications.ts`),
  ];
  assert.equal(partOf(kvWrite), "store");
  const emit = [
    frame("writeUtf8String", "ext:deno_node/internal/stream_base_commons.ts"),
    frame("sendPacket", `${NPM}/engine.io/6.6.4/build/socket.js`),
    frame("publish", `${LIB}/socket/server.ts`),
    frame("processNotification", `${LIB}/webhook/notifications.ts`),
  ];
  assert.equal(partOf(emit), "delivery");
  const nodeWs = [frame("writev"), frame("sendFrame", "file:///b/node_modules/ws/lib/sender.js")];
  assert.equal(partOf(nodeWs), "delivery");
  assert.equal(partOf([frame("#line", `${LIB}/event_lines.ts`)]), "event log");
  assert.equal(partOf([frame("payloadOf", `${LIB}/payload.ts`)]), "webhook");
  assert.equal(partOf([frame("parserOnBody", "node:_http_common"), frame("(root)")]), "webhook");
  assert.equal(partOf([frame("(garbage collector)"), frame("(root)")]), "gc");
  assert.equal(partOf([frame("(idle)"), frame("(root)")]), "idle");
  assert.equal(partOf([frame("runMicrotasks"), frame("(root)")]), "runtime");
});

Deno.test("profile parts - only the window before the last marked sample is counted", () => {
  // root(1) → handler(2) → store(3); root → (idle)(4); root → (garbage collector)(5)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
      { id: 2, callFrame: frame("handle", `${LIB}/webhook/notifications.ts`), children: [3] },
      { id: 3, callFrame: frame("save", `${LIB}/store/kv_store.ts`) },
      { id: 4, callFrame: frame("(idle)") },
      { id: 5, callFrame: frame("(garbage collector)") },
    ],
    startTime: 0,
    // t = 1, 2, 3, 4, 5, 6, 7, 8 ms
    samples: [2, 2, 5, 3, 4, 2, 5, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
  const marked = (f: { url: string }) => f.url.endsWith("notifications.ts");
  // The last marked sample is at 6 ms; a 3 ms window takes the samples at 3, 4, 5 and 6 ms.
  const ms = profileParts(profile, marked, 3)!;
  assert.deepEqual(
    { webhook: ms.webhook, store: ms.store, gc: ms.gc, idle: ms.idle },
    { webhook: 1, store: 1, gc: 1, idle: 1 },
  );
  assert.equal(profileParts(profile, () => false, 3), null);
});
