/**
 * Preloaded into the connector by bench/memory_per_socket.ts (`--preload`, with
 * `--v8-flags=--expose-gc`): on SIGUSR2, two full GCs, then one line on stderr with the JS heap in
 * use. A GC without the inspector, whose network tracking of every WebSocket would itself be
 * measured.
 */
// "last-resort": the memory-reducing full GC (as the inspector's collectGarbage), which also
// releases the pages it freed.
const gc = (globalThis as { gc?: (o?: unknown) => void }).gc;
const full = () => gc!({ type: "major", execution: "sync", flavor: "last-resort" });
if (gc) {
  Deno.addSignalListener("SIGUSR2", () => {
    const before = Deno.memoryUsage();
    console.error(`gc-hook-before heapUsed=${before.heapUsed} heapTotal=${before.heapTotal}`);
    full();
    setTimeout(() => {
      full();
      const { heapUsed, heapTotal } = Deno.memoryUsage();
      console.error(`gc-hook heapUsed=${heapUsed} heapTotal=${heapTotal}`);
    }, 200);
  });
}
