// A tiny hand-written AMQP 0-9-1 client for protocol-level tests.
// It builds frames byte by byte (so tests can also build *broken* frames)
// and parses whatever the server sends back.
import net from 'node:net';

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]); // "AMQP" 0 0 9 1

// class / method ids
export const CONNECTION = 10;
export const CHANNEL = 20;
export const EXCHANGE = 40;
export const QUEUE = 50;
export const BASIC = 60;

export const M = {
  connectionStart: [10, 10],
  connectionStartOk: [10, 11],
  connectionSecure: [10, 20],
  connectionTune: [10, 30],
  connectionTuneOk: [10, 31],
  connectionOpen: [10, 40],
  connectionOpenOk: [10, 41],
  connectionClose: [10, 50],
  connectionCloseOk: [10, 51],
  channelOpen: [20, 10],
  channelOpenOk: [20, 11],
  channelClose: [20, 40],
  channelCloseOk: [20, 41],
  queueDeclare: [50, 10],
  queueDeclareOk: [50, 11],
  basicPublish: [60, 40],
  basicGet: [60, 70],
  basicGetOk: [60, 71],
  basicGetEmpty: [60, 72],
} as const;

// ------------------------------------------------------------- encoding

export function u8(n: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(n);
  return b;
}
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
export function shortstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 255) throw new Error('shortstr too long');
  return Buffer.concat([u8(b.length), b]);
}
export function longstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(b.length), b]);
}

export type FieldValue = string | number | boolean | Buffer | null | FieldTable;
export interface FieldTable {
  [key: string]: FieldValue;
}

function fieldValue(v: FieldValue): Buffer {
  if (v === null) return Buffer.from('V');
  if (typeof v === 'string') return Buffer.concat([Buffer.from('S'), longstr(v)]);
  if (typeof v === 'boolean') return Buffer.concat([Buffer.from('t'), u8(v ? 1 : 0)]);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v);
      return Buffer.concat([Buffer.from('I'), b]);
    }
    if (Number.isInteger(v)) {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(v));
      return Buffer.concat([Buffer.from('l'), b]);
    }
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return Buffer.concat([Buffer.from('d'), b]);
  }
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from('x'), u32(v.length), v]);
  return Buffer.concat([Buffer.from('F'), table(v)]);
}

export function table(t: FieldTable): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(t)) parts.push(shortstr(k), fieldValue(v));
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

/** Pack booleans into bit octets as AMQP does (consecutive bits share an octet, LSB first). */
export function bits(...flags: boolean[]): Buffer {
  const out: number[] = [];
  flags.forEach((f, i) => {
    if (i % 8 === 0) out.push(0);
    if (f) out[out.length - 1] |= 1 << i % 8;
  });
  return Buffer.from(out);
}

/** A whole frame: type, channel, size, payload, frame-end. */
export function frame(type: number, channel: number, payload: Buffer, frameEnd = FRAME_END): Buffer {
  return Buffer.concat([u8(type), u16(channel), u32(payload.length), payload, u8(frameEnd)]);
}

export function methodPayload(classId: number, methodId: number, ...args: Buffer[]): Buffer {
  return Buffer.concat([u16(classId), u16(methodId), ...args]);
}

export function methodFrame(channel: number, [classId, methodId]: readonly [number, number], ...args: Buffer[]): Buffer {
  return frame(FRAME_METHOD, channel, methodPayload(classId, methodId, ...args));
}

export const defaultClientProperties: FieldTable = {
  product: 'warren-raw-test-client',
  version: '0.0.1',
  platform: `Node.js ${process.version}`,
  capabilities: {
    publisher_confirms: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    authentication_failure_close: true,
  },
};

export function startOkFrame(user = 'guest', pass = 'guest', clientProperties: FieldTable = defaultClientProperties): Buffer {
  return methodFrame(
    0,
    M.connectionStartOk,
    table(clientProperties),
    shortstr('PLAIN'),
    longstr(`\0${user}\0${pass}`),
    shortstr('en_US'),
  );
}

export function tuneOkFrame(channelMax: number, frameMax: number, heartbeat: number): Buffer {
  return methodFrame(0, M.connectionTuneOk, u16(channelMax), u32(frameMax), u16(heartbeat));
}

export function connectionOpenFrame(vhost = '/'): Buffer {
  return methodFrame(0, M.connectionOpen, shortstr(vhost), shortstr(''), bits(false));
}

export function connectionCloseOkFrame(): Buffer {
  return methodFrame(0, M.connectionCloseOk);
}

export function channelOpenFrame(channel: number): Buffer {
  return methodFrame(channel, M.channelOpen, shortstr(''));
}

export function channelCloseOkFrame(channel: number): Buffer {
  return methodFrame(channel, M.channelCloseOk);
}

export function queueDeclareFrame(
  channel: number,
  queue: string,
  o: { passive?: boolean; durable?: boolean; exclusive?: boolean; autoDelete?: boolean; noWait?: boolean } = {},
): Buffer {
  return methodFrame(
    channel,
    M.queueDeclare,
    u16(0),
    shortstr(queue),
    bits(!!o.passive, !!o.durable, !!o.exclusive, !!o.autoDelete, !!o.noWait),
    table({}),
  );
}

export function basicPublishFrame(channel: number, exchange: string, routingKey: string, mandatory = false): Buffer {
  return methodFrame(channel, M.basicPublish, u16(0), shortstr(exchange), shortstr(routingKey), bits(mandatory, false));
}

/** Content header with no properties (property flags 0). */
export function contentHeaderFrame(channel: number, bodySize: number, classId = BASIC): Buffer {
  return frame(FRAME_HEADER, channel, Buffer.concat([u16(classId), u16(0), u64(bodySize), u16(0)]));
}

export function contentBodyFrame(channel: number, body: Buffer): Buffer {
  return frame(FRAME_BODY, channel, body);
}

export function heartbeatFrame(channel = 0): Buffer {
  return frame(FRAME_HEARTBEAT, channel, Buffer.alloc(0));
}

export function basicGetFrame(channel: number, queue: string, noAck = true): Buffer {
  return methodFrame(channel, M.basicGet, u16(0), shortstr(queue), bits(noAck));
}

// ------------------------------------------------------------- decoding

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
  /** total bytes on the wire, including the 7-byte header and frame-end */
  wireSize: number;
}

export interface Method {
  classId: number;
  methodId: number;
  args: Buffer;
}

export function decodeMethod(f: Frame): Method {
  if (f.type !== FRAME_METHOD) throw new Error(`not a method frame (type ${f.type})`);
  return { classId: f.payload.readUInt16BE(0), methodId: f.payload.readUInt16BE(2), args: f.payload.subarray(4) };
}

export function isMethod(f: Frame, [classId, methodId]: readonly [number, number]): boolean {
  return f.type === FRAME_METHOD && f.payload.length >= 4 && f.payload.readUInt16BE(0) === classId && f.payload.readUInt16BE(2) === methodId;
}

/** Sequential reader for method arguments. */
export class ArgReader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8(this.off++);
  }
  u16(): number {
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  shortstr(): string {
    const n = this.u8();
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }
  longstr(): Buffer {
    const n = this.u32();
    const s = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }
  /** Skips a field table, returning its raw bytes. */
  rawTable(): Buffer {
    return this.longstr();
  }
}

export interface CloseInfo {
  replyCode: number;
  replyText: string;
  classId: number;
  methodId: number;
}

export function decodeClose(args: Buffer): CloseInfo {
  const r = new ArgReader(args);
  return { replyCode: r.u16(), replyText: r.shortstr(), classId: r.u16(), methodId: r.u16() };
}

export interface TuneInfo {
  channelMax: number;
  frameMax: number;
  heartbeat: number;
}

export function decodeTune(args: Buffer): TuneInfo {
  const r = new ArgReader(args);
  return { channelMax: r.u16(), frameMax: r.u32(), heartbeat: r.u16() };
}

export type CloseResult =
  | ({ kind: 'connection.close'; channel: 0 } & CloseInfo)
  | ({ kind: 'channel.close'; channel: number } & CloseInfo)
  | { kind: 'socket-closed' }
  | { kind: 'timeout' };

// ------------------------------------------------------------- client

export class RawAmqp {
  /** every byte received, in order */
  received: Buffer = Buffer.alloc(0);
  /** set if the server answered with a protocol header instead of frames */
  protocolHeaderReply?: Buffer;
  /** set if the server sent something that is not a well-formed frame */
  parseError?: string;
  tune?: TuneInfo;
  closed = false;
  readonly closedPromise: Promise<void>;

  private offset = 0;
  private frames: Frame[] = [];
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.parse();
      this.notify();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.notify();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawAmqp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.setNoDelay(true);
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawAmqp(s));
      });
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private parse(): void {
    if (this.parseError) return;
    // A server that rejects our protocol header answers with its own.
    if (this.offset === 0 && this.received.length >= 4 && this.received.subarray(0, 4).toString('latin1') === 'AMQP') {
      if (this.received.length < 8) return;
      this.protocolHeaderReply = Buffer.from(this.received.subarray(0, 8));
      this.offset = 8;
    }
    for (;;) {
      const avail = this.received.length - this.offset;
      if (avail < 7) return;
      const type = this.received.readUInt8(this.offset);
      const channel = this.received.readUInt16BE(this.offset + 1);
      const size = this.received.readUInt32BE(this.offset + 3);
      if (avail < 8 + size) return;
      const end = this.received.readUInt8(this.offset + 7 + size);
      if (end !== FRAME_END) {
        this.parseError = `bad frame-end 0x${end.toString(16)} from server at offset ${this.offset}`;
        return;
      }
      const payload = Buffer.from(this.received.subarray(this.offset + 7, this.offset + 7 + size));
      this.frames.push({ type, channel, payload, wireSize: 8 + size });
      this.offset += 8 + size;
    }
  }

  /** Write raw bytes; errors (e.g. the server already closed) are ignored. */
  write(buf: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(buf, () => undefined);
  }

  /** The next frame from the server, or null if the socket closed (or timeout elapsed) first. */
  async nextFrame(timeoutMs = 5000): Promise<Frame | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.closed || this.parseError) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          if (this.wake === wake) this.wake = null;
          resolve();
        }, left);
        const wake = () => {
          clearTimeout(t);
          resolve();
        };
        this.wake = wake;
      });
    }
  }

  /** Next non-heartbeat frame, which must be the given method. */
  async expectMethod(id: readonly [number, number], timeoutMs = 5000): Promise<Method> {
    for (;;) {
      const f = await this.nextFrame(timeoutMs);
      if (!f) throw new Error(`expected method ${id.join('.')}, got ${this.closed ? 'socket closed' : 'nothing (timeout)'}`);
      if (f.type === FRAME_HEARTBEAT) continue;
      if (!isMethod(f, id)) {
        let detail = '';
        if (f.type === FRAME_METHOD) {
          const m = decodeMethod(f);
          detail = ` method ${m.classId}.${m.methodId}`;
          if (isMethod(f, M.connectionClose) || isMethod(f, M.channelClose)) {
            const c = decodeClose(m.args);
            detail += ` (${c.replyCode} ${c.replyText})`;
          }
        }
        throw new Error(`expected method ${id.join('.')}, got frame type ${f.type} on channel ${f.channel}${detail}`);
      }
      return decodeMethod(f);
    }
  }

  /**
   * Full opening handshake. `frameMax` is what we put in tune-ok (defaults
   * to the server's proposal).
   */
  async handshake(
    o: { user?: string; pass?: string; vhost?: string; frameMax?: number; channelMax?: number; heartbeat?: number } = {},
  ): Promise<TuneInfo> {
    this.write(PROTOCOL_HEADER);
    await this.expectMethod(M.connectionStart);
    this.write(startOkFrame(o.user, o.pass));
    const tune = decodeTune((await this.expectMethod(M.connectionTune)).args);
    this.tune = tune;
    this.write(tuneOkFrame(o.channelMax ?? tune.channelMax, o.frameMax ?? tune.frameMax, o.heartbeat ?? 0));
    this.write(connectionOpenFrame(o.vhost ?? '/'));
    await this.expectMethod(M.connectionOpenOk);
    return tune;
  }

  async openChannel(channel: number): Promise<void> {
    this.write(channelOpenFrame(channel));
    await this.expectMethod(M.channelOpenOk);
  }

  /**
   * Read frames until the server closes the connection or a channel.
   * Answers connection.close with close-ok (as a client should).
   * Other frames are skipped.
   */
  async waitForClose(timeoutMs = 5000): Promise<CloseResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      const f = await this.nextFrame(Math.max(0, left));
      if (!f) {
        if (this.closed || this.parseError) return { kind: 'socket-closed' };
        return { kind: 'timeout' };
      }
      if (isMethod(f, M.connectionClose)) {
        this.write(connectionCloseOkFrame());
        return { kind: 'connection.close', channel: 0, ...decodeClose(decodeMethod(f).args) };
      }
      if (isMethod(f, M.channelClose)) {
        return { kind: 'channel.close', channel: f.channel, ...decodeClose(decodeMethod(f).args) };
      }
    }
  }

  /** Resolves true if the socket closes within the timeout. */
  async waitSocketClosed(timeoutMs = 5000): Promise<boolean> {
    if (this.closed) return true;
    return Promise.race([
      this.closedPromise.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
