/** Moved to bench/harness/process.ts (shared by the bench and the tests; the bench imports no test code). */
export * from "../../bench/harness/process.ts";
