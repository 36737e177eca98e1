// Writes of a plain TCP connection straight to its handle, past net.Socket's Writable. Each
// socket.write goes through the stream's state machine (writeOrBuffer, _writeGeneric, a write
// request, afterWriteDispatched, a nextTick for afterWrite): ~2 µs of the main thread per write
// here (a two-process echo over loopback, own reads on both sides: 12.4-13.5 µs of the echoing
// side's CPU per round trip with socket.write, 10.0-10.8 µs handing the buffer to the handle). The
// writer flushes once per tick, so that is ~2 µs per hop of every small message: an RPC request,
// its reply, a publish at a steady rate.
//
// The handle's writeBuffer and writev are what net.Socket itself calls (lib/internal/
// stream_base_commons.js), with a WriteWrap request from the stream_wrap binding. Where a Node
// version lacks them, the connection writes through socket.write as before.
//
// Order: libuv writes a stream's requests in the order given, and tries a write at once only when
// none is queued, so a later socket.write (the end of a connection: socket.end()) goes after every
// buffer handed over here. Nothing here writes while net.Socket holds writes of its own: those
// are only the ones made before the handshake's first frame (the protocol header of a refused
// connection) or after the last (end()).
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  handle: StreamHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  /** Keeps what was handed over alive while the kernel has not taken all of it. */
  buffer: Buffer | Buffer[] | null;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: boolean): number;
}

interface StreamWrap {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kBytesWritten: number;
}

let binding: StreamWrap | null | undefined;

function streamWrap(): StreamWrap | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const p = process as unknown as { binding?: (name: string) => Partial<StreamWrap> };
    const b = p.binding?.('stream_wrap');
    if (
      b &&
      typeof b.WriteWrap === 'function' &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kLastWriteWasAsync === 'number' &&
      typeof b.kBytesWritten === 'number'
    ) {
      binding = b as StreamWrap;
    }
  } catch {
    // A Node without process.binding('stream_wrap'): socket.write it is.
  }
  return binding;
}

/** Writes to one socket's handle; see the top of the file. */
export class DirectWrites {
  /** Bytes of writes the kernel has not taken all of yet (as net.Socket's writableLength). */
  inFlight = 0;
  private readonly oncomplete: (this: WriteReq, status: number) => void;

  private constructor(
    private readonly socket: Socket,
    private readonly handle: StreamHandle,
    private readonly wrap: StreamWrap,
    /** Called once per write when the kernel has taken it all or it was dropped with the socket. */
    private readonly done: () => void,
    /** Called when the last write in flight is done and the socket can take more. */
    private readonly drained: () => void,
  ) {
    const self = this;
    this.oncomplete = function (this: WriteReq, status: number): void {
      self.inFlight -= this.bytes;
      this.buffer = null;
      self.done();
      if (status < 0) self.fail(status);
      else if (self.inFlight === 0) self.drained();
    };
  }

  /** For a plain TCP socket whose handle takes writes directly; null otherwise. */
  static of(socket: Socket, done: () => void, drained: () => void): DirectWrites | null {
    const wrap = streamWrap();
    const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
    if (!wrap || typeof handle?.writeBuffer !== 'function' || typeof handle.writev !== 'function') return null;
    return new DirectWrites(socket, handle as StreamHandle, wrap, done, drained);
  }

  /** Hands bufs to the kernel, or queues what it does not take at once; done() follows either way. */
  write(bufs: Buffer[]): void {
    const req = new this.wrap.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = this.oncomplete;
    req.async = false;
    req.bytes = 0;
    req.buffer = null;
    const err = bufs.length === 1 ? this.handle.writeBuffer(req, bufs[0]!) : this.handle.writev(req, bufs, true);
    if (err !== 0) {
      this.done();
      this.fail(err);
      return;
    }
    const state = this.wrap.streamBaseState;
    if (state[this.wrap.kLastWriteWasAsync] === 0) {
      this.done();
      return;
    }
    req.async = true;
    req.bytes = state[this.wrap.kBytesWritten]!;
    req.buffer = bufs.length === 1 ? bufs[0]! : bufs;
    this.inFlight += req.bytes;
  }

  /** A failed write ends the socket as net.Socket's own would: destroyed with the error. */
  private fail(status: number): void {
    if (this.socket.destroyed) return;
    const code = getSystemErrorName(status);
    const err = Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
    this.socket.destroy(err);
  }
}
