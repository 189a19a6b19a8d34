/**
 * Test helper: the README's examples, extracted as written, so the tests run what a newcomer
 * copies. A block is the fenced code right after `<!-- readme-test: NAME -->`; the quickstart's
 * server runs on `localhost:8000`, which tests point at their own port with {@link atPort}.
 */
const ROOT = new URL("../../", import.meta.url);

/** The README's text. */
export async function readReadme(): Promise<string> {
  return await Deno.readTextFile(new URL("README.md", ROOT));
}

/** The fenced code block marked `<!-- readme-test: name -->`, ending with its last newline. */
export function readmeBlock(readme: string, name: string): string {
  const marker = `<!-- readme-test: ${name} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README has no "${marker}"`);
  // Other comments (`<!-- deno-fmt-ignore -->`) may stand between the marker and the block.
  const m = readme.slice(at + marker.length)
    .match(/^(?:\s*<!--[^>]*-->)*\s*```[a-z]*\n([\s\S]*?)^```/m);
  if (!m) throw new Error(`no code block after "${marker}"`);
  return m[1];
}

/** The quickstart's URL (`http://localhost:8000`) pointed at `port`. */
export function atPort(text: string, port: number): string {
  if (!text.includes("localhost:8000")) throw new Error("the example names no localhost:8000");
  return text.replaceAll("localhost:8000", `localhost:${port}`);
}

/**
 * A shell block of `export A=b` lines and `A=b C=d command` lines (with `\` continuations),
 * as the quickstart's start block is written: the variables it sets and the command it runs.
 */
export function parseShellBlock(block: string): { env: Record<string, string>; command: string } {
  const env: Record<string, string> = {};
  const commands: string[] = [];
  const lines = block.replace(/\\\n/g, " ").split("\n");
  for (const line of lines) {
    const words = line.replace(/(^|\s)#.*$/, "").trim().split(/\s+/).filter(Boolean);
    if (words[0] === "export") words.shift();
    while (words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
      const [name, ...value] = words.shift()!.split("=");
      env[name] = value.join("=").replace(/^(["'])(.*)\1$/, "$2");
    }
    if (words.length) commands.push(words.join(" "));
  }
  return { env, command: commands.join("; ") };
}

/** The permission flags `deno task start` runs main.ts with (from deno.json). */
export async function startTaskFlags(): Promise<string[]> {
  const json = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const m = String(json.tasks.start).match(/^deno task build && deno run (.*) main\.ts$/);
  if (!m) throw new Error(`unexpected start task: ${json.tasks.start}`);
  return m[1].split(/\s+/);
}

/** Why the README's shell examples cannot run here (bash, openssl, curl), or undefined. */
export function shellToolsSkipReason(): string | undefined {
  const missing = ["bash", "openssl", "curl"].filter((tool) => {
    const out = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
      .outputSync();
    return !out.success;
  });
  if (!missing.length) return undefined;
  const reason = `${missing.join(", ")} missing (apt-get install ${missing.join(" ")})`;
  if (Deno.env.get("CI") === "true") throw new Error(`README tests need ${reason}`);
  console.warn(`\n!!! SKIPPING README SHELL TESTS: ${reason} !!!\n`);
  return reason;
}

/**
 * Runs the README's send block with bash in `dir` (which holds `body.json`), against the
 * server on `port`. Only PATH and HOME come from outside: the block sets its own secret.
 */
export async function runSendBlock(readme: string, dir: string, port: number) {
  const script = atPort(readmeBlock(readme, "send"), port);
  const out = await new Deno.Command("bash", {
    args: ["-e", "-c", script],
    cwd: dir,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}
