/**
 * Entry point: `deno task start`. Reads the environment, starts one instance on PORT and
 * shuts it down gracefully on SIGINT/SIGTERM (Deno Deploy evicts isolates with SIGINT).
 */
import { loadConfig, processEnv } from "./lib/config.ts";
import { exitOnBootFailure } from "./lib/boot_failure.ts";
import { preflight } from "./lib/deploy/preflight.ts";
import { startServer } from "./lib/server.ts";
import { reportBoot } from "./lib/boot_summary.ts";

async function main() {
  const env = processEnv();
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    exitOnBootFailure(err); // a bad value: one line naming the variable, exit 1
    throw err;
  }
  // Say at boot what would otherwise surface on the first request (a missing build, …).
  for (const line of await preflight(config, env)) console.warn(line);
  let server;
  try {
    server = await startServer(config);
  } catch (err) {
    // A port in use, Redis unreachable, …: one line, not a stack.
    exitOnBootFailure(err, config);
    throw err;
  }
  reportBoot(config, env, server);

  const shutdown = async (signal: string) => {
    console.log(`${signal}: shutting down`);
    const timer = setTimeout(() => Deno.exit(1), 10_000);
    await server.close();
    clearTimeout(timer);
    Deno.exit(0);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => shutdown(sig));
  }
}

if (import.meta.main) await main();
