/**
 * Cargo of the Deno KV cluster bus (protocol: kv_adapter.ts): a namespace's broadcasts encoded
 * as its adapter would publish them, to be committed in another writer's atomic operation (e.g.
 * with the profiles they carry) rather than on their own; KvBusWriter.ride commits them.
 */
import { type ClusterMessage, MessageType } from "socket.io-adapter";
import { type Encoded, layout, PACK_OVERHEAD, partCount } from "./kv_bus_format.ts";
import { type AddToCommit, encode, type KvBusWriter } from "./kv_bus_writer.ts";

/** A broadcast as `io.to(rooms).except(except).emit(event, payload)` makes it. */
export interface Broadcast {
  rooms: string[];
  except?: string[];
  event: string;
  payload: unknown;
}

/**
 * Messages of this instance's log committed in another writer's atomic operation (see
 * `KvBus.cargo`): what they add to it (bytes, an upper bound, and mutations), and `ride`.
 */
export class BusCargo {
  readonly bytes: number;
  readonly mutations: number;

  constructor(readonly writer: KvBusWriter, readonly encoded: Encoded[]) {
    ({ bytes: this.bytes, mutations: this.mutations } = cargoCost(encoded));
  }

  /**
   * Commits these messages, and those of `also` (cargo of the same bus) after them, in the
   * operation `commit` builds (KvBusWriter.ride): true once committed.
   */
  ride(commit: (add: AddToCommit) => Promise<boolean>, also: unknown[] = []): Promise<boolean> {
    const all = [this, ...also];
    if (!all.every((c) => c instanceof BusCargo && c.writer === this.writer)) {
      return Promise.reject(new Error("cargo of another bus"));
    }
    return this.writer.ride((all as BusCargo[]).flatMap((c) => c.encoded), commit);
  }
}

/**
 * The messages that broadcasting `broadcasts` in namespace `nsp` (and `serverSideEmit` of
 * `serverSide`, when given) publishes from the adapter whose node id is `uid`, encoded.
 */
export function cargoMessages(
  uid: string,
  nsp: string,
  broadcasts: Broadcast[],
  serverSide?: unknown[],
): Encoded[] {
  const messages = broadcasts.map((b) =>
    encode({
      uid,
      nsp,
      type: MessageType.BROADCAST,
      data: {
        // socket.io's EVENT packet and encoded broadcast options (ClusterAdapter.broadcast).
        packet: { type: 2, data: [b.event, b.payload] },
        opts: { rooms: b.rooms, except: b.except ?? [], flags: {} },
      },
    } as ClusterMessage)
  );
  if (serverSide) {
    messages.push(
      encode({ uid, nsp, type: MessageType.SERVER_SIDE_EMIT, data: { packet: serverSide } }),
    );
  }
  return messages;
}

/** What committing `cargo` adds to an operation: bytes (an upper bound) and mutations. */
export function cargoCost(cargo: Encoded[]): { bytes: number; mutations: number } {
  let bytes = 1_000; // record, head, roster, keys
  let mutations = 3;
  for (const c of cargo) bytes += c.bytes.length + PACK_OVERHEAD;
  for (const v of layout(cargo)) mutations += 1 + partCount(cargo[v.start].bytes);
  return { bytes, mutations };
}
