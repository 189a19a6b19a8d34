/**
 * The README's webhook example, run as written: its body saved as a file (with and without a
 * final newline, as editors differ), signed and sent by its shell snippet (bash, openssl, curl)
 * to a real server started with the quickstart's variables.
 */
import assert from "node:assert/strict";
import { identify, once, startTestServer } from "../helpers/server.ts";
import {
  parseShellBlock,
  readmeBlock,
  readReadme,
  runSendBlock,
  shellToolsSkipReason,
} from "../helpers/readme.ts";

const skip = shellToolsSkipReason();
const opts = { ignore: skip !== undefined, sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "README - the signing snippet and body are accepted, with or without a final newline",
  opts,
  async () => {
    const readme = await readReadme();
    const { env } = parseShellBlock(readmeBlock(readme, "start"));
    const body = readmeBlock(readme, "body");
    assert.ok(body.endsWith("}\n"), "the body block is saved with a final newline");
    const t = await startTestServer({ env });
    const dir = await Deno.makeTempDir();
    try {
      const ada = await identify(t, { email: "ada@example.com" });
      const variants = [["newline", body, "pro"], ["no-newline", body.trimEnd(), "team"]];
      for (const [name, text, plan] of variants) {
        // A fresh notification id per variant (a replay is acknowledged, not applied), and a
        // new plan, so each variant's push is its own.
        const sent = text.replace('"quickstart-1"', `"quickstart-${name}"`)
          .replace('"traits_plan": "pro"', `"traits_plan": "${plan}"`);
        assert.ok(sent.includes(`quickstart-${name}`) && sent.includes(`"${plan}"`), sent);
        await Deno.writeTextFile(`${dir}/body.json`, sent);
        const pushed = once<{ user: { traits?: { plan?: string } } }>(ada, "user.update");
        const run = await runSendBlock(readme, dir, t.port);
        assert.equal(run.code, 0, `${name}: ${run.stdout} ${run.stderr}`);
        const answer = JSON.parse(run.stdout);
        assert.equal(answer.flow_control?.type, "next", run.stdout);
        assert.equal(answer.replayed, undefined, `${name} was applied`);
        assert.equal((await pushed).user.traits?.plan, plan);
      }
    } finally {
      await t.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
