/**
 * `deno task test`: runs the suite with the system temp dir pointed at a directory of its own,
 * removed afterwards, so the KV files, Redis dirs and browser profiles the tests create (a
 * hundred or more per run) do not pile up in /tmp. Arguments go to `deno test`; unless one of
 * them is an existing file or directory, the whole of tests/ runs (`--filter name` included).
 * Exits with deno test's code.
 */
const dir = await Deno.makeTempDir({ prefix: "hull-browser-test-" });
const args = [...Deno.args];
const isPath = (a: string) => {
  try {
    Deno.statSync(a);
    return true;
  } catch {
    return false;
  }
};
if (!args.some(isPath)) args.push("tests/");
let code = 1;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--parallel", ...args],
    env: { TMPDIR: dir, TMP: dir, TEMP: dir },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the child too (same process group): outlive it, then clean up.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  code = (await child.status).code;
  Deno.removeSignalListener("SIGINT", ignore);
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
Deno.exit(code);
