/** Moved to bench/harness/chromium.ts (shared by the bench and the tests; the bench imports no test code). */
export * from "../../bench/harness/chromium.ts";
