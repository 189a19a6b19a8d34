/** Moved to bench/harness/page_server.ts (shared by the bench and the tests; the bench imports no test code). */
export * from "../../bench/harness/page_server.ts";
