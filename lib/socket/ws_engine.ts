/**
 * A `wsEngine` for engine.io that speaks native Deno WebSocket frames.
 *
 * engine.io's websocket transport normally runs on the `ws` package, which writes every frame
 * through Deno's `node:net` streams (one `writev` per socket and message, ~29 µs each) and keeps
 * the upgrade `IncomingMessage` alive as long as the socket. Here the `node:http` `upgrade`
 * event's socket is handed to `Deno.upgradeWebSocket(request, { socket, head })`, and the native
 * `WebSocket` is wrapped in the small `ws`-like surface engine.io 6.6 uses
 * (`transports/websocket.js`, `Server#handleUpgrade`/`onWebSocket`): `handleUpgrade()`, and on
 * the socket `on/once/off/removeListener` of `message(data, isBinary)`/`close`/`error`,
 * `send(data, cb)`, `close()`, `readyState` and `_socket.remoteAddress`.
 *
 * engine.io behaviour this engine does not keep:
 * - `perMessageDeflate`: Deno's WebSocket negotiates no compression (the option is ignored).
 * - `maxPayload` is checked once a message has arrived whole (`ws` stops mid-frame); the socket is
 *   then closed with 1009 and an `error` is emitted, as `ws` does.
 * - The `headers` event: Deno writes the 101 response itself, so `initial_headers`/`headers`
 *   listeners and engine.io's `cookie` option add nothing to websocket upgrades.
 * - No pre-encoded broadcast frames (`_sender.sendFrame`): engine.io encodes each packet, and Deno
 *   frames it natively.
 */
import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Server } from "socket.io";
import { Adapter } from "socket.io-adapter";

/** The options engine.io passes to `new wsEngine(...)`. */
export interface EngineOptions {
  noServer?: boolean;
  maxPayload?: number;
  perMessageDeflate?: unknown;
}

/** `ws`'s readyState numbers (the same as the WHATWG WebSocket's). */
const OPEN = 1;
/** Close code for a message larger than `maxPayload` (RFC 6455 "message too big"). */
const TOO_BIG = 1009;
/** The native socket's events that NativeWebSocket listens to. */
const EVENTS = ["message", "error", "close"] as const;
/** The request headers `Deno.upgradeWebSocket` reads. */
const UPGRADE_HEADERS = [
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
];

/** The parts of Deno's `node:net` Socket read here. */
interface NodeSocket {
  remoteAddress?: string;
  _handle?: { close?(): void } | null;
}

/** `Deno.upgradeWebSocket` with the `node:http` takeover options (not in Deno's types yet). */
const upgrade = Deno.upgradeWebSocket as unknown as (
  request: Request,
  options: { socket: Duplex; head: Uint8Array; idleTimeout: number },
) => { socket: WebSocket };

/** A native WebSocket seen through the part of `ws.WebSocket` that engine.io uses. */
export class NativeWebSocket extends EventEmitter {
  /** What engine.io reads for `Socket#remoteAddress`; a copy, not the `node:net` socket. */
  readonly _socket: { remoteAddress: string | undefined };
  #ws: WebSocket;
  #maxPayload: number;

  constructor(ws: WebSocket, remoteAddress: string | undefined, maxPayload: number) {
    super();
    this._socket = { remoteAddress };
    this.#ws = ws;
    this.#maxPayload = maxPayload;
    ws.binaryType = "arraybuffer";
    // This object is the one listener of all three events (`handleEvent`): no closure and no
    // `on<event>` wrapper per event, which every open socket would keep.
    for (const type of EVENTS) ws.addEventListener(type, this);
  }

  /** The native socket's events (an `EventListenerObject`, see the constructor). */
  handleEvent(e: Event): void {
    if (e.type === "message") return this.#onMessage((e as MessageEvent).data);
    if (e.type === "error") {
      const message = (e as ErrorEvent).message || "websocket error";
      if (this.listenerCount("error")) this.emit("error", new Error(message));
      return;
    }
    if (e.type !== "close") return;
    for (const type of EVENTS) this.#ws.removeEventListener(type, this);
    const { code, reason } = e as CloseEvent;
    this.emit("close", code, Buffer.from(reason ?? ""));
    this.removeAllListeners();
  }

  /**
   * Adds a listener, except engine.io's `onUpgradeError`: a no-op it leaves attached for the
   * socket's life, whose closure holds the `node:net` socket of the upgrade.
   */
  // deno-lint-ignore no-explicit-any
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === "error" && listener.name === "onUpgradeError") return this;
    return super.on(event, listener);
  }

  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  get readyState(): number {
    return this.#ws.readyState;
  }

  #onMessage(data: string | ArrayBuffer): void {
    const text = typeof data === "string";
    const size = text ? data.length : data.byteLength;
    // A string's UTF-8 size is between its length and 3× its length: count bytes only if needed.
    const over = size > this.#maxPayload ||
      (text && size * 3 > this.#maxPayload && Buffer.byteLength(data) > this.#maxPayload);
    if (over) {
      const err = Object.assign(new RangeError("Max payload size exceeded"), {
        code: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
        closeCode: TOO_BIG,
      });
      this.#ws.close(TOO_BIG, "Max payload size exceeded");
      if (this.listenerCount("error")) this.emit("error", err);
      return;
    }
    if (text) this.emit("message", data, false);
    else this.emit("message", Buffer.from(data), true);
  }

  /**
   * Sends one text (string) or binary frame. `cb` runs in a microtask, like `ws`'s after the
   * write, with an error when the socket is no longer open.
   */
  send(data: string | Uint8Array, cb?: (err?: Error) => void): void {
    if (this.#ws.readyState !== OPEN) {
      const err = new Error(`WebSocket is not open: readyState ${this.#ws.readyState}`);
      if (cb) queueMicrotask(() => cb(err));
      return;
    }
    this.#ws.send(data);
    if (cb) queueMicrotask(cb);
  }

  /** Starts the closing handshake; `close` is emitted when it completes. */
  close(code?: number, reason?: string): void {
    if (this.#ws.readyState >= 2) return;
    this.#ws.close(code, reason);
  }

  /** Closes at once (`ws`'s `terminate`). */
  terminate(): void {
    this.close();
  }
}

/** The engine.io `wsEngine`: hands each upgrade to `Deno.upgradeWebSocket`. */
export class NativeWsEngine extends EventEmitter {
  #maxPayload: number;

  constructor(opts: EngineOptions = {}) {
    super();
    this.#maxPayload = opts.maxPayload ?? 100 * 1024 * 1024;
  }

  /**
   * Takes over a `node:http` upgrade that engine.io has accepted; calls `cb` once the native
   * socket is open. Nothing of `req` or `socket` is kept but the remote address.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    cb: (ws: NativeWebSocket) => void,
  ): void {
    const headers = new Headers();
    for (const name of UPGRADE_HEADERS) {
      const v = req.headers[name];
      if (typeof v === "string") headers.set(name, v);
    }
    const node = socket as unknown as NodeSocket;
    const remoteAddress = node.remoteAddress;
    // Deno moves the TCP stream out of this handle but never closes the husk, which stays a GC
    // root holding the node socket and, through engine.io's listeners, the upgrade request.
    const handle = node._handle;
    let ws: WebSocket;
    try {
      // Deno's own ping/idle timer is off: engine.io's heartbeat already closes dead peers.
      ws = upgrade(new Request("http://localhost/", { headers }), { socket, head, idleTimeout: 0 })
        .socket;
    } catch {
      // Not a valid WebSocket handshake (what `ws` answers with 400 as well).
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return;
    }
    const wrapped = new NativeWebSocket(ws, remoteAddress, this.#maxPayload);
    // Failed before opening (the 101 could not be written): nothing was handed to engine.io.
    const onEarlyError = () => socket.destroy();
    ws.addEventListener("error", onEarlyError);
    // A `once` listener, not `onopen`: the `on<event>` setter leaves a handler slot on the
    // native socket for its whole life, even once set back to null.
    ws.addEventListener("open", () => {
      // Drop every closure that holds `cb` (engine.io's, holding the request) or the socket.
      ws.removeEventListener("error", onEarlyError);
      socket.removeAllListeners();
      handle?.close?.();
      cb(wrapped);
    }, { once: true });
  }

  /** Nothing to release: open sockets are closed by engine.io itself. */
  close(cb?: () => void): void {
    if (cb) queueMicrotask(cb);
  }
}

/** What engine.io and socket.io read of a connection's first request, after the handshake. */
interface LightRequest {
  headers: Record<string, string>;
  url: string | undefined;
  _query: Record<string, string>;
  connection: { encrypted: boolean; remoteAddress: string | undefined };
  socket: { encrypted: boolean; remoteAddress: string | undefined };
}

/** The query of every light request (one shared object, never written). */
const NO_QUERY: Record<string, string> = Object.freeze({}) as Record<string, string>;

type EncodeFn = (packet: unknown, opts?: unknown) => unknown[];

/**
 * Fits a socket.io server to this engine:
 * - each engine.io connection's `request` (the first `IncomingMessage`, kept for the
 *   connection's life and read by socket.io's handshake) is replaced with a copy of what is read
 *   of it (Origin header, url, query, remote address), so the request, its socket and buffers
 *   can be collected;
 * - broadcasts no longer pre-encode a `ws` frame per packet (a `Buffer` copy and a frame header
 *   that only `ws`'s `_sender` could use).
 */
export function useNativeWebSockets(io: Server): void {
  const proto = Adapter.prototype as unknown as { _encode?: EncodeFn };
  if (typeof proto._encode === "function") {
    proto._encode = function (this: { encoder: { encode: EncodeFn } }, packet: unknown) {
      return this.encoder.encode(packet);
    };
  }
  io.engine.prependListener("connection", (conn: { request: unknown; remoteAddress?: string }) => {
    const req = conn.request as IncomingMessage & { _query?: Record<string, string> } | undefined;
    if (!req) return;
    const origin = req.headers?.origin;
    const net = {
      encrypted: !!(req.socket as { encrypted?: boolean } | undefined)?.encrypted,
      remoteAddress: conn.remoteAddress,
    };
    const light: LightRequest = {
      headers: typeof origin === "string" ? { origin } : {},
      url: req.url,
      // Read by socket.io for `handshake.query` only, which user_fetch.ts blanks at once.
      _query: NO_QUERY,
      connection: net,
      socket: net,
    };
    conn.request = light;
  });
}
