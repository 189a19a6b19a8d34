import assert from "node:assert/strict";
import { EventLog } from "../../lib/events.ts";
import { maskIdentifiers } from "../../lib/identity.ts";
import { KvStore } from "../../lib/store/kv_store.ts";
import type { LogEntry } from "../../lib/types.ts";
import { FakeClock } from "../helpers/fake_clock.ts";

Deno.test("events - entries are buffered, stored and listed newest first", async () => {
  const store = await KvStore.open(":memory:");
  const log = new EventLog(store, { instance: "i-1", stdout: false, flushIntervalMs: 10 });
  try {
    const live: string[] = [];
    const stop = log.subscribe((e) => live.push(e.event));
    log.emit("incoming.connection.start", { domain: "example.com" });
    log.emit("incoming.user.start", {
      identifiers: maskIdentifiers([{ type: "email", value: "ada@example.com" }]),
    });
    stop();
    log.emit("outgoing.user.success");
    assert.deepEqual(live, ["incoming.connection.start", "incoming.user.start"]);
    await log.flush();
    const stored = await store.listEvents(10);
    assert.deepEqual(stored.map((e) => e.event), [
      "outgoing.user.success",
      "incoming.user.start",
      "incoming.connection.start",
    ]);
    assert.equal(stored[2].instance, "i-1");
    assert.ok(!JSON.stringify(stored).includes("ada@example.com"), "no raw email stored");
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - the buffer is bounded when the store falls behind", async () => {
  const store = await KvStore.open(":memory:");
  const log = new EventLog(store, {
    instance: "i",
    stdout: false,
    flushIntervalMs: 60_000,
    maxBuffered: 5,
  });
  try {
    for (let i = 0; i < 20; i++) log.emit("incoming.user.start", { message: String(i) });
    await log.flush();
    const stored = await store.listEvents(100);
    assert.equal(stored.length, 5);
    assert.equal(stored[0].message, "19");
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - past the store's rate, errors are kept first, then the newest", async () => {
  const store = await KvStore.open(":memory:");
  const counted: number[] = [];
  const log = new EventLog(store, {
    instance: "i",
    stdout: false,
    flushIntervalMs: 60_000,
    storeRatePerSecond: 0, // only the initial burst allowance of 2,000
    counters: { inc: (_name, by = 1) => void counted.push(by) },
  });
  try {
    for (let i = 0; i < 2_500; i++) {
      log.emit(i % 500 === 0 ? "outgoing.user.error" : "outgoing.user.success", {
        message: String(i),
      });
    }
    await log.flush();
    const stored = await store.listEvents(10_000);
    assert.equal(stored.length, 2_000);
    assert.equal(stored.filter((e) => e.event === "outgoing.user.error").length, 5, "all errors");
    assert.equal(stored[0].message, "2499");
    assert.equal(log.notStored, 500);
    assert.deepEqual(counted, [500]);
    // The allowance is spent: the next flush stores nothing but is counted.
    log.emit("incoming.user.start");
    await log.flush();
    assert.equal(log.notStored, 501);
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - emitMany records one entry per item, each live and stored", async () => {
  const store = await KvStore.open(":memory:");
  const log = new EventLog(store, { instance: "i-2", stdout: false, flushIntervalMs: 10 });
  try {
    const live: string[] = [];
    log.subscribe((e) => live.push(`${e.event}:${e.message}`));
    log.emitMany("outgoing.user.success", [{ message: "a" }, { message: "b" }, { message: "c" }]);
    log.emitMany("outgoing.user.skip", []);
    assert.deepEqual(live, [
      "outgoing.user.success:a",
      "outgoing.user.success:b",
      "outgoing.user.success:c",
    ]);
    await log.flush();
    const stored = await store.listEvents(10);
    assert.deepEqual(stored.map((e) => e.message), ["c", "b", "a"]);
    assert.equal(new Set(stored.map((e) => e.id)).size, 3, "ids stay unique within a batch");
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - timed flushes write the store at most once per interval, nothing lost", async () => {
  const store = await KvStore.open(":memory:");
  const clock = new FakeClock();
  // The real store, with the time and size of each write noted.
  const writes: string[] = [];
  const sink = {
    appendEvents: (entries: LogEntry[]) => {
      writes.push(`${entries.length}@${clock.now()}`);
      return store.appendEvents(entries);
    },
  };
  const log = new EventLog(sink, {
    instance: "i",
    stdout: false,
    flushIntervalMs: 5,
    storeIntervalMs: 300,
    clock,
  });
  try {
    for (let i = 0; i < 20; i++) {
      log.emit("incoming.user.start", { message: String(i) });
      await clock.advance(20); // a timed flush after each (at 5, 25, ..., 385 ms)
    }
    // The first flush writes at once, the next 15 wait for the interval (due at 305 ms).
    assert.deepEqual(writes, ["1@5", "15@305"]);
    // The last 4 wait for the next interval, not for another event or an explicit flush.
    await clock.advance(604 - clock.now());
    assert.deepEqual(writes, ["1@5", "15@305"]);
    await clock.advance(1);
    assert.deepEqual(writes, ["1@5", "15@305", "4@605"]);
    assert.equal((await store.listEvents(50)).length, 20);
    assert.equal(clock.pending, 0);
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - the store's allowance refills with time at its rate", async () => {
  const store = await KvStore.open(":memory:");
  const clock = new FakeClock();
  const log = new EventLog(store, {
    instance: "i",
    stdout: false,
    flushIntervalMs: 60_000,
    storeRatePerSecond: 1_000,
    clock,
  });
  const emit = (n: number) =>
    log.emitMany("outgoing.user.success", Array.from({ length: n }, () => ({})));
  try {
    emit(2_500); // the burst allowance takes 2,000
    await log.flush();
    assert.equal(log.notStored, 500);
    await clock.advance(500); // 500 more
    emit(800);
    await log.flush();
    assert.equal(log.notStored, 800);
  } finally {
    await log.close();
    await store.close();
  }
});

Deno.test("events - stdout gets one whole JSON line per entry, multi-byte text included", async () => {
  // A child process, so its stdout is ours to read: 3,000 entries (far past the first stdout
  // buffer) with 3-byte and 4-byte characters, flushed in two rounds after
  // one 300 KB line.
  const script = `
    import { EventLog } from ${
    JSON.stringify(new URL("../../lib/events.ts", import.meta.url).href)
  };
    import { KvStore } from ${
    JSON.stringify(new URL("../../lib/store/kv_store.ts", import.meta.url).href)
  };
    const store = await KvStore.open(":memory:");
    const log = new EventLog(store, { instance: "i-out", flushIntervalMs: 5 });
    log.emit("incoming.user.start", { message: "€".repeat(100_000) });
    await log.flush();
    for (const round of [0, 1]) {
      log.emitMany("incoming.user.start", Array.from({ length: 1500 }, (_, i) => ({
        message: round + ":" + i + ":" + "€😀".repeat(i % 40),
      })));
      await log.flush();
    }
    await log.close();
    store.close();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.startsWith("{"));
  assert.equal(lines.length, 3001);
  const messages = lines.map((l) => JSON.parse(l).message as string);
  for (const round of [0, 1]) {
    for (const i of [0, 39, 1499]) {
      assert.ok(messages.includes(`${round}:${i}:${"€😀".repeat(i % 40)}`), `${round}:${i}`);
    }
  }
  assert.equal(messages[0], "€".repeat(100_000));
  assert.equal(new Set(messages).size, 3001);
});
