/**
 * Builds the browser bundles: the snippet, `lib/snippet/main.ts` → `static/build/hull-browser.js`,
 * one minified IIFE (the IIFE keeps our minified names out of the page's global scope; a plain
 * classic-script bundle would declare them as page globals), and the admin islands,
 * `islands/mount.ts` → `static/build/islands.js`. Prints raw and gzipped sizes.
 *
 * Skips the build when the output is newer than every input (keeps `deno task test` fast);
 * `--force` rebuilds anyway; `--watch` then keeps rebuilding on every change of an input
 * (`deno task dev` runs it next to the server). Usage: `deno task build [--force] [--watch]`.
 */

const ROOT = new URL("../", import.meta.url);
/** Inputs of every bundle: the import map pins the libraries, and this script's flags. */
const EXTRA_INPUTS = ["deno.json", "deno.lock", "lib/types.ts", "scripts/build.ts"];

/** One bundle: entry, output, and the folders whose files are its inputs. */
interface Bundle {
  entry: string;
  output: string;
  dirs: string[];
}

const SNIPPET: Bundle = {
  entry: "lib/snippet/main.ts",
  output: "static/build/hull-browser.js",
  dirs: ["lib/snippet/"],
};
const ISLANDS: Bundle = {
  entry: "islands/mount.ts",
  output: "static/build/islands.js",
  dirs: ["islands/", "components/"],
};

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

async function newestInput(dirs: string[]): Promise<number> {
  let newest = 0;
  for (const d of dirs) {
    const dir = new URL(d, ROOT);
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile) newest = Math.max(newest, await mtime(new URL(entry.name, dir)));
    }
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
export function buildSnippet(options: { force?: boolean } = {}): Promise<BuildResult> {
  return buildBundle(SNIPPET, "iife", options);
}

/** Bundles the admin islands (one ES module hydrating every island on a page). */
export function buildIslands(options: { force?: boolean } = {}): Promise<BuildResult> {
  return buildBundle(ISLANDS, "esm", options);
}

async function buildBundle(
  { entry, output, dirs }: Bundle,
  format: "iife" | "esm",
  options: { force?: boolean },
): Promise<BuildResult> {
  const OUTPUT = output;
  const out = new URL(OUTPUT, ROOT);
  const built = options.force || (await mtime(out)) <= (await newestInput(dirs));
  if (built) {
    await Deno.mkdir(new URL("static/build/", ROOT), { recursive: true });
    const tmp = `${OUTPUT}.${Deno.pid}.${Date.now()}.tmp`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--platform",
        "browser",
        "--format",
        format,
        "--minify",
        "--output",
        tmp,
        entry,
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

/** Builds both bundles, printing each one's size; `quiet` leaves out those up to date. */
async function buildAll(force: boolean, quiet = false): Promise<void> {
  const kb = (n: number) => (n / 1024).toFixed(1) + " KB";
  for (
    const [name, build] of [[SNIPPET.output, buildSnippet], [ISLANDS.output, buildIslands]] as const
  ) {
    const result = await build({ force });
    if (quiet && !result.built) continue;
    console.log(
      `${result.built ? "built" : "up to date"}: ${name} ${kb(result.bytes)} (${
        kb(result.gzipBytes)
      } gzipped)`,
    );
  }
}

/**
 * Rebuilds whenever an input changes, until the process is stopped. Changes are gathered for
 * `settleMs` first (an editor's save is several events); a failed build is printed and the
 * watch goes on, so a typo does not stop `deno task dev`.
 */
export async function watch(settleMs = 150): Promise<void> {
  const paths = [...new Set([...SNIPPET.dirs, ...ISLANDS.dirs, ...EXTRA_INPUTS])]
    .map((p) => new URL(p, ROOT).pathname);
  console.log("watching the snippet and island sources; rebuilding on change");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = Promise.resolve();
  for await (const event of Deno.watchFs(paths)) {
    if (event.paths.every((p) => p.endsWith(".tmp") || p.includes("/static/build/"))) continue;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(() => buildAll(false, true)).catch((err) =>
        console.error(`build failed: ${(err as Error).message}`)
      );
    }, settleMs);
  }
}

if (import.meta.main) {
  await buildAll(Deno.args.includes("--force"));
  if (Deno.args.includes("--watch")) await watch();
}
