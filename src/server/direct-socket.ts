// An in-process byte stream between a component of the broker (a shovel) and the broker itself,
// as RabbitMQ's direct connections are: no TCP, no login, no port to reach. Each end is a Duplex;
// what one end writes the other reads, by reference (no copy). The broker's end stands in for a
// net.Socket in Connection (the fields Connection and its FrameWriter read are here), and the
// component speaks AMQP 0-9-1 over its end as any client would.
import { Duplex } from 'node:stream';

export class DirectSocket extends Duplex {
  peer: DirectSocket | null = null;
  /** The broker's name for the connection (on the component's end: what the management API lists it as). */
  connectionName = '';
  bytesRead = 0;
  bytesWritten = 0;
  /** No addresses: a direct connection has none (the management API shows none). */
  readonly remoteAddress: string | undefined = undefined;
  readonly remotePort: number | undefined = undefined;
  readonly localAddress: string | undefined = undefined;
  readonly localPort: number | undefined = undefined;
  /** Reads the other end wrote while this one was not reading (backpressure: its writes wait). */
  private pendingCallback: (() => void) | null = null;

  setNoDelay(): this {
    return this;
  }

  override _read(): void {
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    cb?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) return callback();
    this.bytesWritten += chunk.length;
    peer.bytesRead += chunk.length;
    // The write completes once the other end wants more: a slow reader holds its writer back.
    if (peer.push(chunk)) callback();
    else peer.pendingCallback = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    cb?.();
    if (peer && !peer.destroyed) {
      peer.peer = null;
      // The other end sees the stream end, then close, as a socket's reader sees its peer go.
      peer.push(null);
      peer.destroy();
    }
    callback(err);
  }
}

/** Two connected ends: [the broker's, the component's]. */
export function directPair(): [DirectSocket, DirectSocket] {
  const a = new DirectSocket();
  const b = new DirectSocket();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
