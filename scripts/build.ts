/**
 * Builds the browser snippet: `lib/snippet/main.ts` → `static/build/hull-browser.js`, one
 * minified IIFE (the IIFE keeps our minified names out of the page's global scope; a plain
 * classic-script bundle would declare them as page globals). Prints raw and gzipped size.
 *
 * Skips the build when the output is newer than every input (keeps `deno task test` fast);
 * `--force` rebuilds anyway. Usage: `deno task build [--force]`.
 */

const ROOT = new URL("../", import.meta.url);
const ENTRY = "lib/snippet/main.ts";
const OUTPUT = "static/build/hull-browser.js";
/** Inputs besides lib/snippet: the import map pins socket.io-client, and this script's flags. */
const EXTRA_INPUTS = ["deno.json", "deno.lock", "lib/types.ts", "scripts/build.ts"];

/** Result of {@link buildSnippet}. */
export interface BuildResult {
  /** Absolute path of the bundle. */
  path: string;
  /** Size in bytes. */
  bytes: number;
  /** Size gzipped (what a browser downloads). */
  gzipBytes: number;
  /** False when the existing bundle was up to date. */
  built: boolean;
}

async function mtime(path: URL): Promise<number> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

async function newestInput(): Promise<number> {
  let newest = 0;
  const dir = new URL("lib/snippet/", ROOT);
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) newest = Math.max(newest, await mtime(new URL(entry.name, dir)));
  }
  for (const file of EXTRA_INPUTS) newest = Math.max(newest, await mtime(new URL(file, ROOT)));
  return newest;
}

/** Gzipped size of `bytes`, with the platform's CompressionStream. */
export async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/**
 * Bundles the snippet unless it is up to date (or `force`). The bundle is written to a temp
 * file and renamed, so a server or a parallel test never reads half a file.
 */
export async function buildSnippet(options: { force?: boolean } = {}): Promise<BuildResult> {
  const out = new URL(OUTPUT, ROOT);
  const built = options.force || (await mtime(out)) <= (await newestInput());
  if (built) {
    await Deno.mkdir(new URL("static/build/", ROOT), { recursive: true });
    const tmp = `${OUTPUT}.${Deno.pid}.${Date.now()}.tmp`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--platform",
        "browser",
        "--format",
        "iife",
        "--minify",
        "--output",
        tmp,
        ENTRY,
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      await Deno.remove(new URL(tmp, ROOT)).catch(() => {});
      throw new Error(`deno bundle failed (${code}):\n${new TextDecoder().decode(stderr)}`);
    }
    await Deno.rename(new URL(tmp, ROOT), out);
  }
  const bytes = await Deno.readFile(out);
  return {
    path: out.pathname,
    bytes: bytes.byteLength,
    gzipBytes: await gzipSize(bytes),
    built,
  };
}

if (import.meta.main) {
  const result = await buildSnippet({ force: Deno.args.includes("--force") });
  const kb = (n: number) => (n / 1024).toFixed(1) + " KB";
  console.log(
    `${result.built ? "built" : "up to date"}: ${OUTPUT} ${kb(result.bytes)} (${
      kb(result.gzipBytes)
    } gzipped)`,
  );
}
