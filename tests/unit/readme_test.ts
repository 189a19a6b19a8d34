/**
 * The README stays true and short: every `deno task` it names exists, its Configuration table
 * lists exactly the environment variables the code reads, every other variable it names is in
 * that table, its links into the repository resolve, and no file cites a document that is not
 * in the repository.
 */
import assert from "node:assert/strict";
import { readmeBlock, readReadme } from "../helpers/readme.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * Variables the README's security section names that the trust work merged alongside adds
 * (bindings of a deployment to its Hull connector). Once the code reads one, it belongs in the
 * Configuration table and leaves this list (the test below says so).
 */
const PENDING_MERGE = new Set<string>();
/** Named by the README but not configuration of the server: the test suite's switch. */
const NOT_CONFIGURATION = new Set(["CI"]);

async function sourceFiles(dir: URL, out: URL[] = []): Promise<URL[]> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) await sourceFiles(url, out);
    else if (/\.tsx?$/.test(entry.name)) out.push(url);
  }
  return out;
}

/** Environment variables the server's code reads (lib/ and main.ts). */
async function variablesReadByCode(): Promise<Set<string>> {
  const names = new Set<string>();
  const files = [new URL("main.ts", ROOT), ...await sourceFiles(new URL("lib/", ROOT))];
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/\benv\??\.([A-Z][A-Z0-9_]+)\b/g)) names.add(m[1]);
    for (const m of text.matchAll(/env\.get\("([A-Z][A-Z0-9_]+)"\)/g)) names.add(m[1]);
    // Variables read in a loop over their names (`LIMIT_*`, `HULL_FETCH_*`).
    for (const m of text.matchAll(/\["([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)", "[a-zA-Z]+"\]/g)) {
      names.add(m[1]);
    }
  }
  return names;
}

/** The variables in the first column of the README's Configuration table. */
function tableVariables(readme: string): Set<string> {
  const section = readme.split(/^## Configuration\n/m)[1].split(/^## /m)[0];
  const names = new Set<string>();
  for (const line of section.split("\n")) {
    const first = line.match(/^\|([^|]*)\|/)?.[1] ?? "";
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]);
  }
  return names;
}

/** Every name the README writes like an environment variable, in code spans and blocks. */
function namedVariables(readme: string): Set<string> {
  const code = [...readme.matchAll(/```[a-z]*\n([\s\S]*?)```|`([^`\n]+)`/g)]
    .map((m) => m[1] ?? m[2]).join("\n");
  const names = new Set<string>();
  for (const m of code.matchAll(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT|SECRET|CI)\b/g)) {
    names.add(m[1]);
  }
  return names;
}

/**
 * The tag's stub, one line as pages paste it: it queues `identify`, `on`, `off` and `once`
 * called before the async bundle loads; the bundle drains the queue (lib/snippet/).
 */
const STUB = '<script>window.hullBrowser=window.hullBrowser||[];["identify","on","off","once"]' +
  ".forEach(function(m){hullBrowser[m]=hullBrowser[m]||function(){hullBrowser.push([m]" +
  ".concat([].slice.call(arguments)))}})</script>";

Deno.test("README - the quickstart's page carries the one-line stub before the async tag", async () => {
  const page = readmeBlock(await readReadme(), "page");
  const lines = page.split("\n");
  const stub = lines.indexOf(STUB);
  assert.ok(stub >= 0, "the stub line, exactly (deno fmt must not reflow it)");
  assert.ok(lines.findIndex((l) => /hull-browser\.js" async>/.test(l)) > stub);
});

Deno.test("README - every `deno task` it names exists in deno.json", async () => {
  const readme = await readReadme();
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  const named = [...readme.matchAll(/deno task ([a-z][a-z-]*)/g)].map((m) => m[1]);
  assert.ok(named.includes("start") && named.includes("test"), "names start and test");
  for (const task of named) assert.ok(task in tasks, `deno task ${task} is not in deno.json`);
});

Deno.test("README - the Configuration table lists exactly the variables the code reads", async () => {
  const readme = await readReadme();
  const table = tableVariables(readme);
  const code = await variablesReadByCode();
  const notRead = [...table].filter((n) => !code.has(n));
  assert.deepEqual(notRead, [], "in the table but read by no code");
  const missing = [...code].filter((n) => !table.has(n));
  assert.deepEqual(missing, [], "read by the code but missing from the table");
  for (const name of PENDING_MERGE) {
    assert.ok(
      !code.has(name),
      `${name} is read now: add it to the table, drop it from PENDING_MERGE`,
    );
  }
});

Deno.test("README - every variable it names is in the Configuration table", async () => {
  const readme = await readReadme();
  const table = tableVariables(readme);
  const stray = [...namedVariables(readme)].filter((n) =>
    !table.has(n) && !PENDING_MERGE.has(n) && !NOT_CONFIGURATION.has(n)
  );
  assert.deepEqual(stray, [], "named in the README, not a configured variable");
});

Deno.test("README - short, and its links into the repository resolve", async () => {
  const readme = await readReadme();
  const lines = readme.split("\n").length;
  assert.ok(lines <= 350, `README has ${lines} lines (at most 350: details go to docs/)`);
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1])
    .filter((href) => !/^[a-z]+:/.test(href));
  assert.ok(links.some((l) => l.startsWith("docs/")), "links to docs/");
  for (const href of links) {
    await Deno.stat(new URL(href, ROOT)).catch(() => assert.fail(`README links to ${href}`));
  }
});

Deno.test("docs - no file cites a design document outside the repository", async () => {
  const files = [
    new URL("main.ts", ROOT),
    new URL("README.md", ROOT),
    ...(await Promise.all(
      ["lib/", "routes/", "components/", "islands/", "tests/", "scripts/", "bench/", "docs/"]
        .map((d) => sourceFiles(new URL(d, ROOT))),
    )).flat(),
  ];
  for await (const e of Deno.readDir(new URL("docs/", ROOT))) {
    if (e.name.endsWith(".md")) files.push(new URL(`docs/${e.name}`, ROOT));
  }
  const design = ["DESIGN", "§"].join(" ");
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    assert.ok(
      !text.includes(design) && !text.includes(["DESIGN", "md"].join(".")),
      `${file.pathname} cites it`,
    );
  }
});
