// Reads of a plain TCP connection into a buffer of the connection's own, used again from read to
// read. By default Node allocates a 64 KiB buffer for every read, shrinks it to what was read and
// wraps it in a new Buffer: ~2-3 µs of the main thread per read, and a small message's hop through
// the broker (an RPC request, a publish at a steady rate) is one read. Node offers reads into a
// buffer of one's own (`onread`) only to sockets it connects, so an accepted socket's handle is
// moved into a Socket made with that option before anything is read from it (the server accepts
// with pauseOnConnect). A chunk can be read over only once nothing kept a view of it: the frames
// layer counts the views it keeps (frames/kept-views.ts), and a read that made any is followed by
// a fresh buffer.
import { Socket } from 'node:net';
import { keptViews } from '../frames/kept-views.js';

/**
 * A connection starts on a small buffer: an idle one (10,000 of them, README "Scale of objects")
 * holds little more than its handshake needed. The first read that fills it moves it to READ_MAX.
 */
const READ_MIN = 1024;
/** As large as Node's own reads: a large body arrives in as many pieces as before. */
const READ_MAX = 64 * 1024;

/** Takes a read: chunk[0, len) is valid until the sink returns, unless it kept a view (see above). */
export type ReadSink = (chunk: Buffer, len: number) => void;

/** The sinks of the sockets made here, set once by whoever takes the socket (the Connection). */
const sinks = new WeakMap<Socket, { sink: ReadSink | null }>();

/** The part of a net.Socket this module takes over: Node's own field, present since Node 0.x. */
interface WithHandle {
  _handle: object | null;
}

/**
 * The accepted socket (from a server made with pauseOnConnect, so nothing was read yet) as one
 * reading into its own buffer, or the same socket, resumed, if its handle cannot be taken.
 */
export function withOwnReads(accepted: Socket): Socket {
  const old = accepted as unknown as WithHandle;
  const handle = old._handle;
  if (!handle || typeof (handle as { useUserBuffer?: unknown }).useUserBuffer !== 'function') {
    accepted.resume();
    return accepted;
  }
  const slot: { sink: ReadSink | null } = { sink: null };
  let buf = Buffer.allocUnsafeSlow(READ_MIN);
  let fresh = true;
  // Detached first, so destroying the old socket closes nothing (it only leaves the server's count).
  old._handle = null;
  accepted.destroy();
  const socket = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      // Called once at the start and after every read: undefined keeps the buffer in place.
      buffer: (() => {
        if (!fresh) return undefined;
        fresh = false;
        return buf;
      }) as () => Uint8Array,
      callback: (len: number, chunk: Uint8Array): boolean => {
        const before = keptViews.count;
        slot.sink?.(chunk as Buffer, len);
        if (keptViews.count !== before || (len === buf.length && len < READ_MAX)) {
          buf = Buffer.allocUnsafeSlow(len === buf.length ? READ_MAX : buf.length);
          fresh = true;
        }
        return true;
      },
    },
  } as ConstructorParameters<typeof Socket>[0] & { handle: object });
  sinks.set(socket, slot);
  return socket;
}

/** Routes a socket's reads to sink: true for a socket made by withOwnReads, false for any other. */
export function readInto(socket: Socket, sink: ReadSink): boolean {
  const slot = sinks.get(socket);
  if (!slot) return false;
  slot.sink = sink;
  return true;
}
