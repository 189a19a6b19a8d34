/**
 * Reading an answer from another server with a byte cap while it streams: the bytes are
 * counted as they arrive and the read stops (the stream is cancelled, the connection closed)
 * as soon as they pass the cap, so a huge or endless answer costs at most the cap in memory,
 * whatever its `Content-Length` says or does not say.
 */

/**
 * The body's bytes, or null when it is longer than `max` bytes (reading stops there). With
 * `deadline`, a read still going when it fires is cancelled and throws.
 */
export async function readCapped(
  res: Response,
  max: number,
  deadline?: AbortSignal,
): Promise<Uint8Array | null> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  deadline?.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      if (deadline?.aborted) throw new Error("deadline passed");
      const { done, value } = await reader.read();
      if (deadline?.aborted) throw new Error("deadline passed");
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return null;
      }
      chunks.push(value);
    }
  } finally {
    deadline?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}
