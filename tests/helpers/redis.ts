/** Moved to bench/harness/redis.ts (shared by the bench and the tests; the bench imports no test code). */
export * from "../../bench/harness/redis.ts";
