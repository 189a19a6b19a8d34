/**
 * The dependency rules of docs/architecture.md, checked on the sources: every relative import
 * of main.ts, lib/, routes/, components/, islands/ and bench/ is read and classified, and an
 * edge that breaks a rule fails the test with the file, the import and the rule.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIRS = ["lib", "routes", "components", "islands", "bench"];

/**
 * The composition root: puts one instance together (and reports its boot), so it may import any
 * part.
 */
const ROOT_FILES = new Set([
  "main.ts",
  "lib/server.ts",
  "lib/app.ts",
  "lib/app_context.ts",
  "lib/boot_summary.ts",
  "lib/boot_failure.ts",
  "lib/instance_parts.ts",
  "lib/webhook_worker.ts",
]);
/**
 * Leaves that live with their part because only that part reads them, but that the
 * configuration (a leaf) parses: they import leaves only, like any leaf.
 */
const LEAVES_IN_PARTS = new Set(["lib/socket/limits.ts", "lib/hull/hull_config.ts"]);

type Layer = "root" | "dashboard" | "part" | "leaf" | "bench" | "tests" | "other";

/** The layer of a repository-relative path. */
export function layerOf(path: string): Layer {
  if (ROOT_FILES.has(path)) return "root";
  if (/^(routes|components|islands)\//.test(path)) return "dashboard";
  // The admin pages render the dashboard's components: they are the dashboard.
  if (/^lib\/admin\/.*\.tsx$/.test(path)) return "dashboard";
  if (LEAVES_IN_PARTS.has(path)) return "leaf";
  if (/^lib\/[^/]+\.tsx?$/.test(path)) return "leaf";
  if (/^lib\/[^/]+\//.test(path)) return "part";
  if (path.startsWith("bench/")) return "bench";
  if (path.startsWith("tests/")) return "tests";
  return "other";
}

/** Why `from` may not import `to` (with `typeOnly` when the import is `import type`), or null. */
export function brokenRule(from: string, to: string, typeOnly: boolean): string | null {
  const a = layerOf(from);
  const b = layerOf(to);
  if (b === "tests" && a !== "tests") return "nothing outside tests/ imports tests/";
  if (b === "bench" && a !== "bench" && a !== "tests") return "only the bench imports bench/";
  if (a === "leaf" && b !== "leaf") return "a leaf imports leaves only";
  if (a === "part") {
    if (b === "dashboard") return "a part does not import the dashboard";
    // Handlers read the instance's context; its type is all a part may take from the root.
    if (b === "root" && !(to === "lib/app_context.ts" && typeOnly)) {
      return "a part does not import the composition root";
    }
  }
  if (/\/mod\.ts$/.test(to)) return "no mod.ts: import the module that owns the name";
  return null;
}

/** Relative imports of a source text: [specifier, type-only]. */
export function importsOf(source: string): [string, boolean][] {
  const found: [string, boolean][] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"';]*?\sfrom\s+)?["'](\.[^"']+)["']/g;
  for (const m of source.matchAll(re)) found.push([m[3], !!m[2]]);
  for (const m of source.matchAll(/import\(\s*["'](\.[^"']+)["']\s*\)/g)) found.push([m[1], false]);
  for (
    const m of source.matchAll(/new URL\(\s*["'](\.[^"']+\.tsx?)["']\s*,\s*import\.meta\.url/g)
  ) {
    found.push([m[1], false]); // a Worker or subprocess entry is a dependency too
  }
  return found;
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(path);
    else if (/\.tsx?$/.test(e.name)) yield path;
  }
}

async function allEdges(): Promise<{ from: string; to: string; typeOnly: boolean }[]> {
  const files = ["main.ts"];
  for (const d of DIRS) for await (const f of sources(d)) files.push(f);
  const edges = [];
  for (const from of files) {
    const text = await Deno.readTextFile(join(ROOT, from));
    for (const [spec, typeOnly] of importsOf(text)) {
      const to = relative(ROOT, resolve(dirname(join(ROOT, from)), spec));
      edges.push({ from, to, typeOnly });
    }
  }
  return edges;
}

Deno.test("layering - no import of lib, routes, components, islands or bench breaks a rule", async () => {
  const edges = await allEdges();
  assert.ok(edges.length > 200, `read ${edges.length} imports: the scan found the sources`);
  const broken = edges.flatMap(({ from, to, typeOnly }) => {
    const rule = brokenRule(from, to, typeOnly);
    return rule ? [`${from} → ${to}: ${rule}`] : [];
  });
  assert.deepEqual(broken, []);
});

Deno.test("layering - the rules catch each kind of wrong edge", () => {
  assert.match(brokenRule("lib/payload.ts", "lib/store/store.ts", true)!, /leaf/);
  assert.match(brokenRule("lib/webhook/endpoint.ts", "routes/index.tsx", false)!, /dashboard/);
  assert.match(brokenRule("lib/socket/server.ts", "lib/admin/page.tsx", false)!, /dashboard/);
  assert.match(brokenRule("lib/socket/server.ts", "lib/server.ts", false)!, /root/);
  assert.match(brokenRule("lib/admin/guard.ts", "lib/app_context.ts", false)!, /root/);
  assert.match(brokenRule("bench/main.ts", "tests/helpers/fake_hull.ts", false)!, /tests/);
  assert.match(brokenRule("lib/server.ts", "lib/store/mod.ts", false)!, /mod\.ts/);
  assert.equal(brokenRule("lib/admin/guard.ts", "lib/app_context.ts", true), null);
  assert.equal(brokenRule("routes/index.tsx", "lib/admin/page.tsx", false), null);
  assert.equal(brokenRule("lib/config.ts", "lib/hull/hull_config.ts", false), null);
  assert.equal(brokenRule("tests/unit/x_test.ts", "bench/harness/server.ts", false), null);
  assert.deepEqual(importsOf(`import type { A } from "./a.ts";\nexport { b } from "../b.ts";`), [
    ["./a.ts", true],
    ["../b.ts", false],
  ]);
});
