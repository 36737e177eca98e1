// Reads of a plain TCP connection into a buffer of the connection's own, used again from read to
// read. By default Node allocates a 64 KiB buffer for every read, shrinks it to what was read and
// wraps it in a new Buffer: ~2-3 µs of the main thread per read, and a small message's hop through
// the broker (an RPC request, a publish at a steady rate) is one read; large bodies cost a 64 KiB
// allocation of external memory per read, which drives V8's full collections.
//
// Node offers reads into a buffer of one's own (the `onread` option) only to sockets it connects.
// An accepted socket is given the same state that option gives (the socket's kBuffer, kBufferCb
// and kBufferGen fields, found by their names, and its handle's useUserBuffer) before anything is
// read from it: the server accepts with pauseOnConnect. Where a Node version lacks any of these,
// the socket is left as Node made it and reads as before.
//
// A chunk can be read over only once nothing kept a view of it: the frames layer counts the views
// it keeps (frames/kept-views.ts), and a read that made any is followed by a fresh buffer.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { keptViews } from '../frames/kept-views.js';
import { largeBodies } from '../frames/large-bodies.js';

/**
 * A connection starts on a small buffer: an idle one (10,000 of them, README "Scale of objects")
 * holds little more than its handshake needed, and 64 KiB each of external memory would make V8
 * collect more often. The first read that fills it moves it to READ_MID (as large as Node's own
 * reads); a read of SHRINK_AT bytes or fewer (a heartbeat, an ack, an RPC request) moves it back,
 * so a connection that once sent a burst does not hold a large buffer for the rest of its life.
 * Each move is one allocation, as every read was before.
 *
 * READ_MAX is for reads that are mostly the body of a large message (frames/large-bodies.ts): a
 * read of READ_MID that fills the buffer with one moves it up, a read that is not moves it back to
 * READ_MID. A 1 MiB body then comes in 4 reads, not 16 (README, "Reads of up to 256 KiB").
 */
const READ_MIN = 1024;
const READ_MID = 64 * 1024;
const READ_MAX = 256 * 1024;
const SHRINK_AT = 256;

/**
 * The size of the buffer for the next read, after a read of len bytes into one of size bytes;
 * large: the read was mostly the body of a large message.
 */
function nextSize(size: number, len: number, large: boolean): number {
  if (len <= SHRINK_AT) return READ_MIN;
  if (size < READ_MID) return len === size ? READ_MID : size;
  if (large) return len === size ? READ_MAX : size;
  return READ_MID;
}

/** Takes a read: chunk[0, len) is valid until the sink returns, unless it kept a view (see above). */
export type ReadSink = (chunk: Buffer, len: number) => void;

/** The sinks of the sockets set up here, set once by whoever takes the socket (the Connection). */
const sinks = new WeakMap<Socket, { sink: ReadSink | null }>();

/** net.Socket's own fields for reads into a user buffer (lib/net.js), by their symbols' names. */
interface UserBufferKeys {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}
let keys: UserBufferKeys | null | undefined;

function userBufferKeys(socket: Socket): UserBufferKeys | null {
  if (keys !== undefined) return keys;
  const own = Object.getOwnPropertySymbols(socket);
  const find = (name: string): symbol | undefined => own.find((s) => s.description === name);
  const [buffer, callback, generator] = [find('kBuffer'), find('kBufferCb'), find('kBufferGen')];
  keys = buffer && callback && generator ? { buffer, callback, generator } : null;
  return keys;
}

interface StreamHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

/**
 * Sets the accepted socket (from a server made with pauseOnConnect, so nothing was read yet) to
 * read into a buffer of its own, and resumes it. Returns it.
 */
export function withOwnReads(accepted: Socket): Socket {
  const k = userBufferKeys(accepted);
  const handle = (accepted as unknown as { _handle?: StreamHandle | null })._handle;
  if (!k || typeof handle?.useUserBuffer !== 'function') return accepted.resume();
  const slot: { sink: ReadSink | null } = { sink: null };
  let buf = Buffer.allocUnsafeSlow(READ_MIN);
  let fresh = false;
  const fields = accepted as unknown as Record<symbol, unknown>;
  fields[k.buffer] = buf;
  fields[k.callback] = (len: number, chunk: Buffer): boolean => {
    const before = keptViews.count;
    const largeBefore = largeBodies.bytes;
    slot.sink?.(chunk, len);
    const size = nextSize(buf.length, len, (largeBodies.bytes - largeBefore) * 2 >= len);
    if (keptViews.count !== before || size !== buf.length) {
      buf = Buffer.allocUnsafeSlow(size);
      fresh = true;
    }
    return true;
  };
  // Called after every read: a buffer to read into next, or undefined to keep the one in place.
  fields[k.generator] = (): Buffer | undefined => {
    if (!fresh) return undefined;
    fresh = false;
    return buf;
  };
  handle.useUserBuffer(buf);
  sinks.set(accepted, slot);
  return accepted.resume();
}

/** Routes a socket's reads to sink: true for a socket set up by withOwnReads, false for any other. */
export function readInto(socket: Socket, sink: ReadSink): boolean {
  const slot = sinks.get(socket);
  if (!slot) return false;
  slot.sink = sink;
  return true;
}
