/**
 * `deno task test`: runs the suite with the system temp dir pointed at a directory of its own,
 * removed afterwards, so the KV files, Redis dirs and browser profiles the tests create (a
 * hundred or more per run) do not pile up in /tmp. Arguments go to `deno test`; without a path
 * among them the whole of tests/ runs. Exits with deno test's code.
 */
const dir = await Deno.makeTempDir({ prefix: "hull-browser-test-" });
const args = [...Deno.args];
if (!args.some((a) => !a.startsWith("-"))) args.push("tests/");
let code = 1;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--parallel", ...args],
    env: { TMPDIR: dir, TMP: dir, TEMP: dir },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the child too (same process group); wait for it, then clean up.
  const forward = () => {};
  Deno.addSignalListener("SIGINT", forward);
  code = (await child.status).code;
  Deno.removeSignalListener("SIGINT", forward);
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
Deno.exit(code);
