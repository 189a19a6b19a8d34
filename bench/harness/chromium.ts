/**
 * Test helper: a headless Chromium through `playwright-core` (no bundled browsers: the system
 * `/usr/bin/chromium`, installed by apt). Missing Chromium skips browser tests with a loud
 * warning locally, and fails them under `CI=true` (docs/contracts.md §7).
 */
import { type Browser, chromium } from "playwright-core";

/** Where apt puts Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags from docs/contracts.md §7: quiet, deterministic, no background traffic. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** True when the Chromium binary exists (sync, so `Deno.test({ ignore })` can use it). */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

/**
 * Why browser tests cannot run here, or undefined when they can. Throws under `CI=true`: a
 * missing dependency is a failure there, never a silent skip.
 */
export function chromiumSkipReason(): string | undefined {
  if (hasChromium()) return undefined;
  const reason = `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
  if (Deno.env.get("CI") === "true") throw new Error(`browser tests need Chromium: ${reason}`);
  console.warn(`\n!!! SKIPPING BROWSER TESTS: ${reason} !!!\n`);
  return reason;
}

/** Launches headless Chromium, or returns null (after a loud warning) when it is missing. */
export async function launchBrowser(): Promise<Browser | null> {
  if (chromiumSkipReason()) return null;
  return await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
