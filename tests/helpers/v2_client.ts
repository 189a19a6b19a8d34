/**
 * A socket.io v2 client (engine.io protocol 3), as the original snippet connects: websocket
 * only, with an Origin header.
 */
import rawIoV2 from "socket.io-client-v2";

/**
 * Connects a v2 client to `url` (not awaited). engine.io-client 3 passes extraHeaders (our
 * Origin) only where `self` is undefined, i.e. in Node; Deno defines `self`, so it is hidden
 * while the client is constructed. `forceNode`: Deno's global WebSocket cannot set Origin, so
 * the `ws` package is used, as in Node.
 */
export function ioV2(url: string, origin: string): ReturnType<typeof rawIoV2> {
  const desc = Object.getOwnPropertyDescriptor(globalThis, "self")!;
  Object.defineProperty(globalThis, "self", { value: undefined, configurable: true });
  try {
    return rawIoV2(url, {
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      forceNode: true,
      extraHeaders: { origin },
    });
  } finally {
    Object.defineProperty(globalThis, "self", desc);
  }
}
