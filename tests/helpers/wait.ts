/**
 * Test helper: waiting on conditions instead of the clock. `waitFor` polls a condition until it
 * holds (or fails with what was awaited); `barrier` resolves once something happened `n` times.
 * A test may still wait a fixed time to show that something does NOT happen, but only after a
 * later event that would have come after it (e.g. a second push) has been awaited.
 */

/** Options of `waitFor`. */
export interface WaitOptions {
  /** Fails after this long (default 5,000 ms). */
  timeoutMs?: number;
  /** What is awaited, for the error message. */
  what?: string;
  /** Ms between two checks (default 10). */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy value; rejects after `timeoutMs` with `what`.
 * The condition may be async; it is never run twice at once.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 5_000, what = "a condition", intervalMs = 10 }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const v = await condition();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Counts `arrive()` calls; `reached` resolves at the `n`th. */
export function barrier(n: number): { arrive(): void; reached: Promise<void>; count(): number } {
  let count = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  if (n <= 0) resolve();
  return {
    arrive() {
      if (++count === n) resolve();
    },
    reached: promise,
    count: () => count,
  };
}

/**
 * Resolves once `expr` is truthy in `page`. The expression is evaluated through DevTools, so it
 * works under a page CSP that forbids eval (a poll from inside the page would be refused).
 */
export async function waitForPage(
  page: { evaluate(expr: string): Promise<unknown> },
  expr: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(() => page.evaluate(expr), { timeoutMs, what: expr, intervalMs: 25 });
}
