import assert from "node:assert/strict";
import { EventLines } from "../../lib/event_lines.ts";
import type { LogEntry } from "../../lib/store/store.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const parsed = (b: Uint8Array) => decode(b).split("\n").filter(Boolean).map((l) => JSON.parse(l));
const entry = (over: Partial<LogEntry> = {}): LogEntry => ({
  id: "001796271945665-000001-958af699",
  time: "2026-12-03T04:25:45.665Z",
  event: "outgoing.user.success",
  instance: "vm-1",
  ...over,
});

Deno.test("event lines - each line is the entry's JSON, awkward text included", () => {
  const lines = new EventLines();
  const ids = { email: 'a**@e"*\\*.com', id: "5f00…00a1" };
  const entries: LogEntry[] = [
    entry({ identifiers: ids, message: "pushed to 2 rooms" }),
    entry({ instance: 'pod "7"\n€😀', identifiers: ids, domain: "ex\u2028ample.com" }),
    entry({ message: 'line\nbreak "quoted" \u0000 \ud800 😀' }),
    entry({ identifiers: {}, domain: undefined, message: undefined }),
    entry({ instance: "vm-1" }),
  ];
  for (const e of entries) lines.add(e);
  const out = lines.take()!;
  // The same object as JSON.stringify's line (undefined fields left out, lone surrogates escaped).
  assert.deepEqual(parsed(out), entries.map((e) => JSON.parse(JSON.stringify(e))));
  // Byte for byte: the fields above are in the line's order, so JSON.stringify's UTF-8 is the line.
  assert.deepEqual(
    out,
    new TextEncoder().encode(entries.map((e) => JSON.stringify(e) + "\n").join("")),
  );
  assert.equal(decode(out).split("\n").length, entries.length + 1, "one line each, newline-ended");
  assert.equal(lines.take(), null, "nothing pending after a take");
});

Deno.test("event lines - a taken buffer is not written over until it is released", () => {
  const lines = new EventLines();
  lines.add(entry({ message: "first" }));
  const a = lines.take()!;
  const before = decode(a);
  for (let i = 0; i < 1_000; i++) lines.add(entry({ message: `later ${i}` }));
  assert.equal(decode(a), before);
  lines.release(a);
  lines.add(entry({ message: "reused" }));
  const b = lines.take()!;
  assert.equal(parsed(b).length, 1_001);
  assert.equal(parsed(b)[1_000].message, "reused");
});

Deno.test("event lines - past the pending bound, lines are dropped and counted", () => {
  const lines = new EventLines(2_000);
  for (let i = 0; i < 50; i++) lines.add(entry({ message: `m${i}` }));
  const got = parsed(lines.take()!);
  const dropped = got.at(-1).dropped as number;
  assert.ok(dropped > 0, "some were dropped");
  assert.equal(got.length - 1 + dropped, 50, "every entry is a line or counted");
  assert.deepEqual(got.slice(0, -1).map((e) => e.message), got.slice(0, -1).map((_, i) => `m${i}`));
  lines.add(entry({ message: "after" }));
  assert.deepEqual(parsed(lines.take()!).map((e) => e.message), ["after"], "counted once");
});

Deno.test("event lines - a connector's log names its connector in every line", () => {
  const id = "5a1b2c3d4e5f60718293a4b5";
  const lines = new EventLines(undefined, id);
  const entries = [entry({ message: "pushed" }), entry({ identifiers: { email: "a**@e**.com" } })];
  for (const e of entries) lines.add(e);
  const out = lines.take()!;
  // The entry's JSON with the connector after the instance, byte for byte.
  const expected = entries.map(({ id: entryId, time, event, instance, ...rest }) =>
    JSON.stringify({ id: entryId, time, event, instance, connector: id, ...rest }) + "\n"
  ).join("");
  assert.equal(decode(out), expected);
  assert.deepEqual(parsed(out).map((l) => l.connector), [id, id]);
  // Without a connector, no field at all (the standalone log as before).
  const plain = new EventLines();
  plain.add(entry());
  assert.equal(parsed(plain.take()!)[0].connector, undefined);
});
