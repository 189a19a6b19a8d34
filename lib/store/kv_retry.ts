/**
 * Deno KV writes that wait out a locked local file: several isolates (Workers) opening or
 * writing one SQLite file can collide for a moment; on Deploy's FoundationDB this does not
 * happen. Shared by every KV module of the store and the cluster bus's users.
 */

/** Runs `fn`, retrying briefly while SQLite reports the file locked or busy. */
export async function retryLocked<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 8 || !/locked|busy/i.test(String((err as Error)?.message))) throw err;
      await new Promise((r) => setTimeout(r, 5 * 2 ** attempt + Math.random() * 10));
    }
  }
}

/** Commits `op`, retrying while the local file is locked. */
export const commit = (
  op: Deno.AtomicOperation,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> => retryLocked(() => op.commit());

/** KV refuses an operation over its limits (mutations, sizes): retrying cannot help. */
export const isLimitError = (err: unknown) =>
  /too many|too large|exceeded|value too large/i.test(String((err as Error)?.message));
