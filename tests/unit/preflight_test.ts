import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config.ts";
import { ISLANDS_PATH, preflight, SNIPPET_PATH } from "../../lib/deploy/preflight.ts";

const SECRET = "s".repeat(32);
const built = { snippet: SNIPPET_PATH, islands: ISLANDS_PATH };

Deno.test("preflight - nothing to say when both bundles are built (deno task test builds them)", async () => {
  assert.deepEqual(await preflight(loadConfig({}), {}, built), []);
});

Deno.test("preflight - a missing bundle is one line naming the build command", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = await preflight(loadConfig({}), {}, {
      snippet: `${dir}/hull-browser.js`,
      islands: ISLANDS_PATH,
    });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^snippet not built: .*hull-browser\.js missing/);
    assert.match(lines[0], /run `deno task build`/);
    assert.match(lines[0], /503/);
    assert.doesNotMatch(lines[0], /\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preflight - KV_PATH on Deno Deploy is named; elsewhere it is fine", async () => {
  const deploy = { DENO_DEPLOY: "true", SECRET, KV_PATH: ":memory:" };
  const lines = await preflight(loadConfig(deploy), deploy, built);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^KV_PATH is set on Deno Deploy: .*":memory:".*unset KV_PATH$/);

  const laptop = { KV_PATH: ":memory:" };
  assert.deepEqual(await preflight(loadConfig(laptop), laptop, built), []);
  const attached = { DENO_DEPLOY: "true", SECRET };
  assert.deepEqual(await preflight(loadConfig(attached), attached, built), []);
});
