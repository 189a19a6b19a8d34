/**
 * The benchmark's parameters: `--quick`, `--profile=<dir>`, `--only=<systems>`, `--kv-dir=<dir>`,
 * the scenario sizes for a full or a quick run, and the connector's environment.
 */
import { SECRET } from "./push.ts";

export const QUICK = Deno.args.includes("--quick");
/**
 * `--profile=<dir>`: the connector runs with --cpu-prof into <dir> (stopped with SIGTERM), and
 * section 6's profiles are kept there (`parts-<system>.cpuprofile`).
 */
export const PROFILE = Deno.args.find((a) => a.startsWith("--profile="))?.slice(10);
export const ONLY = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
/**
 * `--kv-dir=<dir>`: where the connector's KV file is created (default: the system temp dir).
 * A diagnostic: on tmpfs (`/dev/shm`) a commit's fsync costs nothing, which shows how much of
 * the webhook's time the durable write takes.
 */
/**
 * `--connector-flags="<flags>"`: runtime flags for the connector's process (none by default,
 * as `deno task start` runs it), for A/B runs of V8 flags.
 */
export const CONNECTOR_FLAGS = (
  Deno.args.find((a) => a.startsWith("--connector-flags="))?.slice(18) ?? ""
).split(" ").filter(Boolean);
export const KV_DIR = Deno.args.find((a) => a.startsWith("--kv-dir="))?.slice(9);
export const P = QUICK
  ? {
    holds: [1_000, 5_000, 10_000],
    push: [{ visitors: 10_000, seconds: 4 }],
    inFlight: [1, 4],
    idleSeconds: 2,
    warmupSeconds: 1,
    identify: 300,
    cross: { visitors: 2_000, seconds: 3 },
    snippetRuns: 3,
    parts: { visitors: 2_000, seconds: 3 },
  }
  : {
    holds: [1_000, 5_000, 10_000, 19_500],
    push: [{ visitors: 10_000, seconds: 12 }, { visitors: 19_500, seconds: 12 }],
    inFlight: [1, 4],
    idleSeconds: 5,
    warmupSeconds: 2,
    identify: 1_000,
    cross: { visitors: 10_000, seconds: 8 },
    snippetRuns: 7,
    parts: { visitors: 10_000, seconds: 8 },
  };
export const SLOTS = 4; // load generator processes per system (≤ 4,875 sockets each at 19,500)
export const PUBLIC_TRAITS = "email,name,bench_sent";
export const ROOT = new URL("../", import.meta.url);
export const DENO = Deno.execPath();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (...a: unknown[]) => console.error("[bench]", ...a);

export const CONNECTOR_ENV = {
  BIND_ADDRESS: "127.0.0.1",
  SECRET: "bench-server-secret-0123456789abcdef",
  WEBHOOK_SECRET: SECRET,
  WHITELISTED_DOMAINS: "localhost",
  PUBLIC_TRAITS,
  LIMIT_CONNECTIONS_PER_IP_PER_MINUTE: "10000000",
  // The loads open up to 19,500 sockets to one connector within a minute: at the default 6,000
  // a minute the rest were refused (the quick run's 10,000 hold identified 8,400-9,200).
  LIMIT_CONNECTIONS_PER_CONNECTOR_PER_MINUTE: "10000000",
  NO_COLOR: "1",
};
