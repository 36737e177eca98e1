// Shared by the fuzz tests (vitest, against src/) and scripts/fuzz.mjs (against dist/, after
// transpiling this file on the fly): valid client→server streams built with the codec's own
// encoders, fast-check mutators for them, the pure (in-process) oracle and the socket oracle.
//
// Nothing here imports the codec or fast-check at run time: both are passed in, so that the same
// code runs against src/frames (vitest) and dist/frames (the long fuzz run). Only node: builtins
// are imported, which also resolve when this module is loaded from a data: URL.
import net from 'node:net';
import type * as Frames from '../../src/frames/index.js';

export type Codec = typeof Frames;
export type FC = typeof import('fast-check');
type Arbitrary<T> = import('fast-check').Arbitrary<T>;
type IProperty<T> = import('fast-check').IProperty<T>;

/** The frame size the broker accepts before tune-ok (connection.ts HANDSHAKE_FRAME_MAX). */
export const HANDSHAKE_FRAME_MAX = 128 * 1024;
/** What the broker proposes in connection.tune by default. */
export const SERVER_FRAME_MAX = 131072;
/** RabbitMQ's default max_message_size, also the broker's. */
export const MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

/** Codes the codec (frames layer) may throw. 406 only for a content header declaring a too-big body. */
export const CODEC_CODES = [501, 502, 503, 505, 540, 406] as const;
/** connection.close codes a misbehaving client may legitimately earn from the broker. */
export const EXPECTED_CONNECTION_CODES = [403, 501, 502, 503, 504, 505, 530, 540] as const;
/** channel.close codes a misbehaving client may legitimately earn. */
export const EXPECTED_CHANNEL_CODES = [403, 404, 405, 406] as const;

// ------------------------------------------------------------------------------ valid streams

export interface Stream {
  name: string;
  bytes: Buffer;
  /** channel.close codes the unmutated stream earns on purpose */
  channelCloses?: number[];
}

/**
 * Valid client→server byte streams, each starting with the protocol header and a full handshake.
 * `tag` (6 characters) makes queue and exchange names unique per socket case, at a fixed length so
 * that byte positions do not depend on it.
 */
export function buildStreams(codec: Codec, tag = '000000'): Stream[] {
  const {
    Writer,
    M,
    PROTOCOL_HEADER,
    writeMethodFrame,
    writeHeaderFrame,
    writeBodyFrames,
    writeHeartbeat,
    encodeBasicProperties,
    toFieldTable,
  } = codec;
  type MethodInit = Frames.MethodInit;
  type BasicProperties = Frames.BasicProperties;

  const clientProperties = toFieldTable({
    product: 'warren-fuzz',
    version: '1.0.0',
    platform: 'Node.js',
    capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true, authentication_failure_close: true },
  });

  class S {
    private w = new Writer(4096);
    frameMax = SERVER_FRAME_MAX;
    header(): this {
      this.w.bytes(PROTOCOL_HEADER);
      return this;
    }
    m(channel: number, m: MethodInit): this {
      writeMethodFrame(this.w, channel, m);
      return this;
    }
    content(channel: number, m: MethodInit, props: BasicProperties, body: Buffer): this {
      const pw = new Writer(256);
      encodeBasicProperties(pw, props);
      writeMethodFrame(this.w, channel, m);
      writeHeaderFrame(this.w, channel, body.length, Buffer.from(pw.take()));
      writeBodyFrames(this.w, channel, body, this.frameMax);
      return this;
    }
    heartbeat(): this {
      writeHeartbeat(this.w);
      return this;
    }
    /** Header, start-ok, tune-ok, open and channel.open(1). */
    handshake(o: { frameMax?: number; amqplain?: boolean; heartbeat?: number } = {}): this {
      this.frameMax = o.frameMax ?? SERVER_FRAME_MAX;
      this.header();
      if (o.amqplain) {
        // AMQPLAIN: a field table without its length prefix.
        const tw = new Writer(256);
        codec.writeTable(tw, toFieldTable({ LOGIN: 'guest', PASSWORD: 'guest' }));
        const response = Buffer.from(tw.take()).subarray(4);
        this.m(0, { id: M.ConnectionStartOk, args: { clientProperties, mechanism: 'AMQPLAIN', response, locale: 'en_US' } });
      } else {
        this.m(0, {
          id: M.ConnectionStartOk,
          args: { clientProperties, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' },
        });
      }
      this.m(0, { id: M.ConnectionTuneOk, args: { channelMax: 2047, frameMax: this.frameMax, heartbeat: o.heartbeat ?? 0 } });
      this.m(0, { id: M.ConnectionOpen, args: { virtualHost: '/' } });
      this.m(1, { id: M.ChannelOpen, args: {} });
      return this;
    }
    close(): this {
      this.m(1, { id: M.ChannelClose, args: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } });
      this.m(0, { id: M.ConnectionClose, args: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } });
      return this;
    }
    build(): Buffer {
      return Buffer.from(this.w.take());
    }
  }

  const q = `fz.q.${tag}`;
  const q2 = `fz.r.${tag}`;
  const x = `fz.x.${tag}`;
  const hx = `fz.h.${tag}`;
  const dlx = `fz.d.${tag}`;
  const tq = `fz.t.${tag}`;
  const eq = `fz.e.${tag}`;
  const expires = toFieldTable({ 'x-expires': 5000 });
  const fullProps: BasicProperties = {
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: toFieldTable({ h: 'v', n: 42, f: 1.5, b: true, nested: { a: [1, 'two', null] }, big: 2n ** 40n }),
    deliveryMode: 2,
    priority: 5,
    correlationId: `corr-${tag}`,
    replyTo: 'nobody',
    expiration: '60000',
    messageId: `msg-${tag}`,
    timestamp: 1_700_000_000,
    type: 'fuzz',
    userId: 'guest',
    appId: 'warren-fuzz',
    clusterId: 'c',
  };
  const body = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
  };
  const publish = (exchange: string, routingKey: string, mandatory = false): MethodInit => ({
    id: M.BasicPublish,
    args: { exchange, routingKey, mandatory },
  });

  const streams: Stream[] = [];
  const add = (name: string, s: S, channelCloses?: number[]): void => {
    streams.push({ name, bytes: s.build(), ...(channelCloses ? { channelCloses } : {}) });
  };

  add('handshake', new S().handshake().close());

  add(
    'publish-get-ack',
    new S()
      .handshake()
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true, arguments: expires } })
      .content(1, publish('', q), fullProps, body(300, 1))
      .content(1, publish('', q), {}, Buffer.alloc(0))
      .m(1, { id: M.BasicGet, args: { queue: q, noAck: false } })
      .m(1, { id: M.BasicAck, args: { deliveryTag: 1 } })
      .m(1, { id: M.BasicGet, args: { queue: q, noAck: true } })
      .m(1, { id: M.QueuePurge, args: { queue: q } })
      .m(1, { id: M.QueueDelete, args: { queue: q } })
      .close(),
  );

  add(
    'consume-qos-cancel',
    new S()
      .handshake()
      .m(1, { id: M.BasicQos, args: { prefetchCount: 10 } })
      .m(1, { id: M.QueueDeclare, args: { queue: '', exclusive: true } })
      .m(1, { id: M.BasicConsume, args: { queue: '', consumerTag: 'c1' } })
      .content(1, publish('', 'amq.gen-nope', true), { deliveryMode: 1 }, body(10, 2))
      .m(1, { id: M.BasicAck, args: { deliveryTag: 0, multiple: true } })
      .m(1, { id: M.BasicRecover, args: { requeue: true } })
      .m(1, { id: M.BasicCancel, args: { consumerTag: 'c1' } })
      .close(),
  );

  const small = new S().handshake({ frameMax: 4096 });
  add(
    'frame-max-4096-multi-frame-body',
    small
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true } })
      .content(1, publish('', q), { headers: toFieldTable({ k: 'x'.repeat(100) }) }, body(10_000, 3))
      .m(1, { id: M.BasicGet, args: { queue: q, noAck: true } })
      .close(),
  );

  add(
    'exchanges-bindings',
    new S()
      .handshake()
      .m(1, { id: M.ExchangeDeclare, args: { exchange: x, type: 'topic', autoDelete: false } })
      .m(1, { id: M.ExchangeDeclare, args: { exchange: hx, type: 'headers' } })
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true } })
      .m(1, { id: M.QueueBind, args: { queue: q, exchange: x, routingKey: 'a.*.#' } })
      .m(1, { id: M.QueueBind, args: { queue: q, exchange: hx, arguments: toFieldTable({ 'x-match': 'all', h: 'v' }) } })
      .m(1, { id: M.ExchangeBind, args: { destination: hx, source: x, routingKey: '#' } })
      .content(1, publish(x, 'a.b.c.d'), fullProps, body(64, 4))
      .content(1, publish(hx, ''), { headers: toFieldTable({ h: 'v' }) }, body(8, 5))
      .m(1, { id: M.ExchangeUnbind, args: { destination: hx, source: x, routingKey: '#' } })
      .m(1, { id: M.QueueUnbind, args: { queue: q, exchange: x, routingKey: 'a.*.#' } })
      .m(1, { id: M.ExchangeDelete, args: { exchange: x } })
      .m(1, { id: M.ExchangeDelete, args: { exchange: hx } })
      .close(),
  );

  add(
    'confirms-and-tx',
    new S()
      .handshake()
      .m(1, { id: M.ConfirmSelect, args: {} })
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true } })
      .content(1, publish('', q), { deliveryMode: 2 }, body(20, 6))
      .m(2, { id: M.ChannelOpen, args: {} })
      .m(2, { id: M.TxSelect, args: {} })
      .content(2, publish('', q), {}, body(5, 7))
      .m(2, { id: M.TxCommit, args: {} })
      .m(2, { id: M.BasicGet, args: { queue: q } })
      .m(2, { id: M.BasicReject, args: { deliveryTag: 1, requeue: true } })
      .m(2, { id: M.BasicGet, args: { queue: q } })
      .m(2, { id: M.BasicNack, args: { deliveryTag: 2, requeue: false } })
      .m(2, { id: M.TxRollback, args: {} })
      .m(2, { id: M.ChannelFlow, args: { active: true } })
      .m(2, { id: M.ChannelClose, args: { replyCode: 200, classId: 0, methodId: 0 } })
      .close(),
  );

  add(
    'dead-letter-ttl',
    new S()
      .handshake()
      .m(1, { id: M.ExchangeDeclare, args: { exchange: dlx, type: 'fanout' } })
      .m(1, { id: M.QueueDeclare, args: { queue: q2, exclusive: true } })
      .m(1, { id: M.QueueBind, args: { queue: q2, exchange: dlx } })
      // Not exclusive (x-expires cleans it up): its messages expire after the connection is gone.
      // 100 ms, not less: the basic.get below must find the first one, and on a loaded machine (a
      // full suite, two files at a time) 5 ms once passed between the publish and the get, which
      // then came back empty and the reject's unknown tag closed the channel (406).
      .m(1, {
        id: M.QueueDeclare,
        args: { queue: tq, arguments: toFieldTable({ 'x-message-ttl': 100, 'x-dead-letter-exchange': dlx, 'x-expires': 2000 }) },
      })
      .content(1, publish('', tq), fullProps, body(30, 8))
      .content(1, publish('', tq), { expiration: '1', contentType: 'a/b' }, body(3, 9))
      .m(1, { id: M.BasicGet, args: { queue: tq } })
      .m(1, { id: M.BasicReject, args: { deliveryTag: 1, requeue: false } })
      .m(1, { id: M.BasicGet, args: { queue: q2, noAck: true } })
      .close(),
  );

  // Messages left to expire into a dead-letter exchange after the connection is gone (their
  // properties are decoded only then, in the queue's expiry timer).
  add(
    'expire-into-dlx',
    new S()
      .handshake()
      .m(1, {
        id: M.QueueDeclare,
        args: { queue: eq, arguments: toFieldTable({ 'x-message-ttl': 20, 'x-dead-letter-exchange': 'amq.fanout', 'x-expires': 2000 }) },
      })
      .content(1, publish('', eq), fullProps, body(10, 16))
      .content(1, publish('', eq), { contentType: 'text/plain', headers: toFieldTable({ a: 1 }), deliveryMode: 1 }, body(1, 17))
      .content(1, publish('', eq), { deliveryMode: 2, correlationId: 'c', timestamp: 1 }, Buffer.alloc(0))
      .close(),
  );

  add(
    'direct-reply-to',
    new S()
      .handshake()
      .m(1, { id: M.BasicConsume, args: { queue: 'amq.rabbitmq.reply-to', noAck: true } })
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true } })
      .content(1, publish('', q), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'x' }, body(4, 10))
      .close(),
  );

  add(
    'long-names',
    new S()
      .handshake()
      .m(1, { id: M.QueueDeclare, args: { queue: `fz.${tag}.`.padEnd(255, 'n'), exclusive: true } })
      .content(1, publish('', `fz.${tag}.`.padEnd(255, 'n')), { messageId: 'm'.repeat(255), type: 't'.repeat(255) }, body(1, 11))
      .m(1, { id: M.BasicGet, args: { queue: `fz.${tag}.`.padEnd(255, 'n'), noAck: true } })
      // Not there: 404, with a reply text over 255 bytes unless cut by bytes.
      .m(1, { id: M.QueueDeclare, args: { queue: `fz.${tag}.`.padEnd(120, 'é'), passive: true } })
      .close(),
    [404],
  );

  add(
    'amqplain-heartbeat-interleaved',
    new S()
      .handshake({ amqplain: true })
      .heartbeat()
      .m(2, { id: M.ChannelOpen, args: {} })
      .m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true, arguments: toFieldTable({ 'x-max-length': 1, 'x-overflow': 'drop-head' }) } })
      .content(1, publish('', q), {}, body(3, 14))
      .heartbeat()
      .content(2, publish('', q), { priority: 1 }, body(0, 15))
      .m(1, { id: M.AccessRequest, args: { realm: '/data' } })
      .close(),
  );

  // A publish on channel 1 and one on channel 2, their frames interleaved (legal: per channel order).
  {
    const a = new S();
    a.handshake().m(2, { id: M.ChannelOpen, args: {} }).m(1, { id: M.QueueDeclare, args: { queue: q, exclusive: true } });
    const one = new S();
    one.content(1, publish('', q), fullProps, body(100, 12));
    const two = new S();
    two.content(2, publish('', q), { contentType: 'x' }, body(100, 13));
    const f1 = splitFrames(one.build(), 0);
    const f2 = splitFrames(two.build(), 0);
    const parts: Buffer[] = [a.build()];
    for (let i = 0; i < Math.max(f1.length, f2.length); i++) {
      if (f1[i]) parts.push(f1[i]!);
      if (f2[i]) parts.push(f2[i]!);
    }
    parts.push(new S().close().build());
    streams.push({ name: 'interleaved-channels', bytes: Buffer.concat(parts) });
  }

  return streams;
}

// ------------------------------------------------------------------------------ frame scanning

export interface FrameSpan {
  start: number;
  /** payload size as declared */
  size: number;
  type: number;
}

/** The frames of a stream (after the protocol header, if it starts with one), as far as they parse. */
export function scanFrames(buf: Buffer): FrameSpan[] {
  let pos = buf.length >= 8 && buf.subarray(0, 4).toString('latin1') === 'AMQP' ? 8 : 0;
  const out: FrameSpan[] = [];
  while (pos + 8 <= buf.length) {
    const size = buf.readUInt32BE(pos + 3);
    if (pos + 8 + size > buf.length) break;
    out.push({ start: pos, size, type: buf[pos]! });
    pos += 8 + size;
  }
  return out;
}

/**
 * Why bytes a broker sent are not a well-formed frame sequence (an optional leading protocol
 * header, then whole frames of known types ending in 0xce, none over frame_max), or null.
 */
export function serverBytesProblem(buf: Buffer, frameMax = SERVER_FRAME_MAX): string | null {
  let pos = buf.length >= 8 && buf.subarray(0, 4).toString('latin1') === 'AMQP' ? 8 : 0;
  while (pos < buf.length) {
    if (buf.length - pos < 8) return `${buf.length - pos} stray bytes at offset ${pos}: ${buf.subarray(pos).toString('hex')}`;
    const type = buf[pos]!;
    const size = buf.readUInt32BE(pos + 3);
    const at = `frame at offset ${pos} (${buf.subarray(pos, pos + 24).toString('hex')}…)`;
    if (type !== 1 && type !== 2 && type !== 3 && type !== 8) return `unknown frame type ${type}, ${at}`;
    if (size + 8 > frameMax) return `frame size ${size} over frame_max ${frameMax}, ${at}`;
    if (pos + 8 + size > buf.length) return `truncated ${at}: ${buf.length - pos} of ${size + 8} bytes`;
    if (buf[pos + 7 + size] !== 0xce) return `bad frame-end 0x${buf[pos + 7 + size]!.toString(16)}, ${at}`;
    pos += 8 + size;
  }
  return null;
}

function splitFrames(buf: Buffer, from: number): Buffer[] {
  return scanFrames(buf)
    .filter((f) => f.start >= from)
    .map((f) => buf.subarray(f.start, f.start + 8 + f.size));
}

// ------------------------------------------------------------------------------ mutations

export type Mutation =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; value: number }
  | { k: 'insert'; pos: number; bytes: number[] }
  | { k: 'delete'; pos: number; len: number }
  | { k: 'truncate'; pos: number }
  | { k: 'frameSize'; frame: number; value: number }
  | { k: 'u32'; pos: number; value: number }
  | { k: 'u8len'; pos: number; value: number }
  | { k: 'bodySize'; frame: number; value: bigint }
  | { k: 'propFlags'; frame: number; value: number }
  | { k: 'propBit'; frame: number; pos: number; bit: number }
  | { k: 'channel'; frame: number; value: number }
  | { k: 'methodId'; frame: number; classId: number; methodId: number }
  | { k: 'dupFrame'; frame: number }
  | { k: 'dropFrame'; frame: number }
  | { k: 'swapFrames'; a: number; b: number }
  | { k: 'splice'; other: number; at: number; from: number };

/** Length values worth trying: around the frame limits, sign bits, all ones. */
export function hugeU32(fc: FC): Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(
      0xffffffff,
      0xfffffffe,
      0x7fffffff,
      0x80000000,
      0x10000000,
      HANDSHAKE_FRAME_MAX - 8,
      HANDSHAKE_FRAME_MAX - 7,
      SERVER_FRAME_MAX,
      4088,
      4089,
      65536,
      0,
      1,
    ),
    fc.integer({ min: 0, max: 0xffffffff }),
  );
}

export function mutationArb(fc: FC): Arbitrary<Mutation> {
  const pos = fc.nat();
  const frame = fc.nat({ max: 63 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), pos, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), pos, value: fc.integer({ min: 0, max: 255 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('insert' as const), pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), pos, len: fc.integer({ min: 1, max: 32 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), pos }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('frameSize' as const), frame, value: hugeU32(fc) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('u32' as const), pos, value: hugeU32(fc) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('u8len' as const), pos, value: fc.constantFrom(0, 1, 127, 128, 200, 254, 255) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('bodySize' as const),
        frame,
        value: fc.oneof(
          fc.constantFrom(0n, 1n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 53n + 1n, BigInt(MAX_MESSAGE_SIZE), BigInt(MAX_MESSAGE_SIZE) + 1n),
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        ),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('propFlags' as const),
        frame,
        // Single properties the list may not have room for, and the reserved bits.
        value: fc.oneof(
          { weight: 2, arbitrary: fc.constantFrom(0x2000, 0x8000, 0x0004, 0x0040, 0x00fc, 0x0001, 0x0002, 0xfffc, 0xffff) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('propBit' as const), frame, pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('channel' as const), frame, value: fc.constantFrom(0, 1, 2, 3, 2047, 2048, 65535) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('methodId' as const),
        frame,
        classId: fc.constantFrom(0, 10, 20, 30, 40, 50, 60, 85, 90, 99, 0xffff),
        methodId: fc.oneof(fc.constantFrom(10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 70, 80, 90, 100, 110, 120), fc.integer({ min: 0, max: 0xffff })),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('dupFrame' as const), frame }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('dropFrame' as const), frame }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('swapFrames' as const), a: frame, b: frame }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('splice' as const), other: fc.nat({ max: 63 }), at: pos, from: pos }) },
  );
}

/** Applies one mutation; positions and frame indexes are taken modulo what the buffer has. */
export function applyMutation(buf: Buffer, m: Mutation, others: readonly Buffer[]): Buffer {
  const len = buf.length;
  const at = (p: number, extra = 0): number => (len + extra === 0 ? 0 : p % (len + extra));
  const frameAt = (i: number): FrameSpan | undefined => {
    const fs = scanFrames(buf);
    return fs.length === 0 ? undefined : fs[i % fs.length];
  };
  const copy = (): Buffer => Buffer.from(buf);
  switch (m.k) {
    case 'flip': {
      if (len === 0) return buf;
      const b = copy();
      const p = at(m.pos);
      b[p] = b[p]! ^ (1 << m.bit);
      return b;
    }
    case 'set': {
      if (len === 0) return buf;
      const b = copy();
      b[at(m.pos)] = m.value;
      return b;
    }
    case 'insert': {
      const p = at(m.pos, 1);
      return Buffer.concat([buf.subarray(0, p), Buffer.from(m.bytes), buf.subarray(p)]);
    }
    case 'delete': {
      if (len === 0) return buf;
      const p = at(m.pos);
      return Buffer.concat([buf.subarray(0, p), buf.subarray(p + m.len)]);
    }
    case 'truncate':
      return buf.subarray(0, at(m.pos, 1));
    case 'u32': {
      if (len < 4) return buf;
      const b = copy();
      b.writeUInt32BE(m.value >>> 0, m.pos % (len - 3));
      return b;
    }
    case 'u8len': {
      if (len === 0) return buf;
      const b = copy();
      b[at(m.pos)] = m.value;
      return b;
    }
    case 'frameSize': {
      const f = frameAt(m.frame);
      if (!f) return buf;
      const b = copy();
      b.writeUInt32BE(m.value >>> 0, f.start + 3);
      return b;
    }
    case 'bodySize': {
      const headers = scanFrames(buf).filter((f) => f.type === 2 && f.size >= 12);
      if (headers.length === 0) return buf;
      const f = headers[m.frame % headers.length]!;
      const b = copy();
      b.writeBigUInt64BE(m.value, f.start + 7 + 4);
      return b;
    }
    case 'propFlags': {
      // The property flags of a content header: the property list no longer matches them.
      const headers = scanFrames(buf).filter((f) => f.type === 2 && f.size >= 14);
      if (headers.length === 0) return buf;
      const f = headers[m.frame % headers.length]!;
      const b = copy();
      b.writeUInt16BE(m.value, f.start + 7 + 12);
      return b;
    }
    case 'propBit': {
      // A bit flip in the property flags or list of a content header.
      const headers = scanFrames(buf).filter((f) => f.type === 2 && f.size >= 14);
      if (headers.length === 0) return buf;
      const f = headers[m.frame % headers.length]!;
      const b = copy();
      const p = f.start + 7 + 12 + (m.pos % (f.size - 12));
      b[p] = b[p]! ^ (1 << m.bit);
      return b;
    }
    case 'channel': {
      const f = frameAt(m.frame);
      if (!f) return buf;
      const b = copy();
      b.writeUInt16BE(m.value, f.start + 1);
      return b;
    }
    case 'methodId': {
      const methods = scanFrames(buf).filter((f) => f.type === 1 && f.size >= 4);
      if (methods.length === 0) return buf;
      const f = methods[m.frame % methods.length]!;
      const b = copy();
      b.writeUInt16BE(m.classId, f.start + 7);
      b.writeUInt16BE(m.methodId, f.start + 9);
      return b;
    }
    case 'dupFrame': {
      const f = frameAt(m.frame);
      if (!f) return buf;
      const end = f.start + 8 + f.size;
      return Buffer.concat([buf.subarray(0, end), buf.subarray(f.start, end), buf.subarray(end)]);
    }
    case 'dropFrame': {
      const f = frameAt(m.frame);
      if (!f) return buf;
      return Buffer.concat([buf.subarray(0, f.start), buf.subarray(f.start + 8 + f.size)]);
    }
    case 'swapFrames': {
      const fs = scanFrames(buf);
      if (fs.length < 2) return buf;
      let a = fs[m.a % fs.length]!;
      let b = fs[m.b % fs.length]!;
      if (a.start === b.start) return buf;
      if (a.start > b.start) [a, b] = [b, a];
      const aEnd = a.start + 8 + a.size;
      const bEnd = b.start + 8 + b.size;
      return Buffer.concat([
        buf.subarray(0, a.start),
        buf.subarray(b.start, bEnd),
        buf.subarray(aEnd, b.start),
        buf.subarray(a.start, aEnd),
        buf.subarray(bEnd),
      ]);
    }
    case 'splice': {
      if (others.length === 0) return buf;
      const o = others[m.other % others.length]!;
      const cut = at(m.at, 1);
      const from = o.length === 0 ? 0 : m.from % (o.length + 1);
      return Buffer.concat([buf.subarray(0, cut), o.subarray(from)]);
    }
  }
}

export function applyMutations(base: Buffer, muts: readonly Mutation[], others: readonly Buffer[]): Buffer {
  let b = base;
  for (const m of muts) b = applyMutation(b, m, others);
  return b;
}

export interface MutatedCase {
  base: number;
  mutations: Mutation[];
  /** split points for delivering the bytes in several chunks (taken modulo the length) */
  splits: number[];
}

export function mutatedCaseArb(fc: FC, opts: { minMutations?: number; maxMutations?: number } = {}): Arbitrary<MutatedCase> {
  return fc.record({
    base: fc.nat({ max: 1023 }),
    mutations: fc.array(mutationArb(fc), { minLength: opts.minMutations ?? 1, maxLength: opts.maxMutations ?? 4 }),
    splits: fc.array(fc.nat(), { maxLength: 6 }),
  });
}

export function materialize(c: MutatedCase, streams: readonly Stream[]): { name: string; bytes: Buffer } {
  const base = streams[c.base % streams.length]!;
  const bytes = applyMutations(
    base.bytes,
    c.mutations,
    streams.map((s) => s.bytes),
  );
  return { name: base.name, bytes };
}

/** Split points (sorted, deduplicated, inside the buffer) into chunks. */
export function chunk(bytes: Buffer, splits: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const cuts = [...new Set(splits.map((s) => s % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

// ------------------------------------------------------------------------------ allocation tracking

interface AllocStats {
  /** largest single Buffer allocation requested while the frame parser itself ran */
  parser: number;
  /** largest one requested while the parser's callback (assembler, decoders) ran */
  callback: number;
}

/**
 * Runs fn with Buffer.alloc/allocUnsafe/allocUnsafeSlow instrumented. `inCallback()` tells whether
 * an allocation happens inside the frame callback or in the parser proper.
 */
function trackAllocations<T>(
  inCallback: () => boolean,
  fn: (stats: AllocStats) => T,
  onAlloc?: (size: number, inCallback: boolean) => void,
): T {
  const stats: AllocStats = { parser: 0, callback: 0 };
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => Buffer>;
  const names = ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const;
  const saved = names.map((n) => B[n]!);
  names.forEach((n, i) => {
    const orig = saved[i]!;
    B[n] = function (this: unknown, ...args: unknown[]): Buffer {
      const size = Number(args[0]);
      const cb = inCallback();
      if (cb) stats.callback = Math.max(stats.callback, size);
      else stats.parser = Math.max(stats.parser, size);
      onAlloc?.(size, cb);
      return orig.apply(Buffer, args);
    };
  });
  try {
    return fn(stats);
  } finally {
    names.forEach((n, i) => {
      B[n] = saved[i]!;
    });
  }
}

// ------------------------------------------------------------------------------ the pure oracle

export interface PureOptions {
  maxBodySize?: number;
  /** per-input wall-clock limit */
  timeLimitMs?: number;
  /** if set, the stream must start with the protocol header (as on a socket); otherwise frames only */
  withHeader?: boolean;
}

export interface PureResult {
  /** 'ok' (all input consumed), 'bad-header', 'E<code>' (codec error), or 'model:<why>' */
  outcome: string;
  frames: string[];
  commands: number;
  fed: number;
  alloc: AllocStats;
  ms: number;
  violations: string[];
}

const isBadHeader = (codec: Codec, b: Buffer): boolean => b.length >= 8 && !b.subarray(0, 8).equals(codec.PROTOCOL_HEADER);

/**
 * Feeds bytes (in the given chunks) to FrameParser, routing frames as the broker's Connection does:
 * channel 0 methods to decodeMethod (tune-ok renegotiates frame_max), other channels through a
 * CommandAssembler each. Checks what may escape and how much may be allocated.
 */
export function runPure(codec: Codec, chunks: readonly Buffer[], opts: PureOptions = {}): PureResult {
  const { FrameParser, CommandAssembler, AmqpError, Reader, decodeMethod, decodeBasicProperties, M } = codec;
  const maxBodySize = opts.maxBodySize ?? MAX_MESSAGE_SIZE;
  const violations: string[] = [];
  const frames: string[] = [];
  let commands = 0;
  let fed = 0;
  let outcome = 'ok';
  let inCb = false;
  let lastFrame: { type: number; payload: Buffer } | null = null;
  const assemblers = new Map<number, InstanceType<typeof CommandAssembler>>();
  const t0 = performance.now();

  const checkError = (e: unknown, where: string): void => {
    if (!(e instanceof AmqpError)) {
      violations.push(`${where} threw a non-AmqpError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      outcome = 'crash';
      return;
    }
    outcome = `E${e.code}`;
    if (!(CODEC_CODES as readonly number[]).includes(e.code)) violations.push(`${where} threw code ${e.code} (${e.message})`);
    if (e.scope !== 'channel' && e.scope !== 'connection') violations.push(`${where} threw scope ${String(e.scope)}`);
    if (where === 'parser' && e.code !== 501) violations.push(`FrameParser.push threw ${e.code}, not 501 (${e.message})`);
    if (e.code === 406) {
      const declared = lastFrame && lastFrame.type === 2 && lastFrame.payload.length >= 12 ? lastFrame.payload.readBigUInt64BE(4) : -1n;
      if (declared <= BigInt(maxBodySize)) violations.push(`406 without a content header declaring more than ${maxBodySize} bytes (${e.message})`);
    }
  };

  let parser!: InstanceType<typeof FrameParser>;
  const onFrame = (type: number, channel: number, payload: Buffer): void => {
    if (outcome !== 'ok') return;
    inCb = true;
    lastFrame = { type, payload };
    frames.push(`${type}:${channel}:${payload.toString('base64')}`);
    try {
      if (payload.length + 8 > parser.frameMax) violations.push(`frame of ${payload.length + 8} bytes emitted, frame_max ${parser.frameMax}`);
      if (type === 8) {
        if (channel !== 0) outcome = 'model:heartbeat-on-channel';
        return;
      }
      if (channel === 0) {
        if (type !== 1) {
          outcome = 'model:content-on-channel-0';
          return;
        }
        const m = decodeMethod(new Reader(payload, 0, payload.length));
        if (m.id === M.ConnectionTuneOk) {
          const fm = m.args.frameMax;
          if ((fm !== 0 && fm < 4096) || fm > SERVER_FRAME_MAX) outcome = 'model:tune-refused';
          else parser.frameMax = fm === 0 ? SERVER_FRAME_MAX : fm;
        }
        return;
      }
      let a = assemblers.get(channel);
      if (!a) assemblers.set(channel, (a = new CommandAssembler(maxBodySize)));
      const cmd = a.push(type, payload);
      if (!cmd) return;
      commands++;
      if (cmd.properties) {
        if (cmd.body === undefined) violations.push('content command without a body');
        try {
          decodeBasicProperties(new Reader(cmd.properties, 0, cmd.properties.length));
        } catch (e) {
          if (!(e instanceof AmqpError) || e.code !== 502) {
            violations.push(`decodeBasicProperties threw ${e instanceof AmqpError ? e.code : String(e)}`);
          }
        }
      }
    } catch (e) {
      checkError(e, `frame handling (type ${type}, channel ${channel})`);
    } finally {
      inCb = false;
      if (outcome !== 'ok') parser.stopped = true;
    }
  };

  const run = (): void => {
    parser = new FrameParser(HANDSHAKE_FRAME_MAX, onFrame);
    let cs: readonly Buffer[] = chunks;
    if (opts.withHeader) {
      // The protocol header is the connection's business, not the codec's: here it must be intact.
      const all = Buffer.concat(chunks as Buffer[]);
      if (all.length < 8) {
        outcome = 'short-header';
        return;
      }
      if (isBadHeader(codec, all)) {
        outcome = 'bad-header';
        return;
      }
      const rest: Buffer[] = [];
      let skip = 8;
      for (const ch of chunks) {
        if (skip >= ch.length) {
          skip -= ch.length;
          continue;
        }
        rest.push(ch.subarray(skip));
        skip = 0;
      }
      cs = rest;
    }
    for (const c of cs) {
      if (outcome !== 'ok') break;
      feed(c);
    }
  };

  const feed = (c: Buffer): void => {
    fed += c.length;
    try {
      parser.push(c);
    } catch (e) {
      checkError(e, 'parser');
    }
    const partial = (parser as unknown as { partial: Buffer | null }).partial;
    if (partial && partial.length > parser.frameMax) violations.push(`parser holds a partial frame buffer of ${partial.length} bytes`);
  };

  // Every allocation is checked when it happens, against the limit in force at that moment: the
  // parser itself never more than frame_max, frame handling never more than the input so far.
  const onAlloc = (size: number, cb: boolean): void => {
    if (cb) {
      if (size > Math.max(fed, 64)) violations.push(`frame handling allocated ${size} bytes after ${fed} input bytes`);
    } else if (parser && size > parser.frameMax) {
      violations.push(`FrameParser allocated ${size} bytes, frame_max ${parser.frameMax}`);
    }
  };
  const alloc = trackAllocations(() => inCb, (stats) => {
    run();
    return stats;
  }, onAlloc);
  const ms = performance.now() - t0;
  if (ms > (opts.timeLimitMs ?? 1000)) violations.push(`took ${ms.toFixed(0)} ms`);
  return { outcome, frames, commands, fed, alloc, ms, violations: [...new Set(violations)] };
}

/**
 * runPure on the bytes whole and in chunks: both must pass, and must see the same frames and the
 * same outcome (frame boundaries never depend on how TCP cut the stream).
 */
export function checkPure(codec: Codec, bytes: Buffer, splits: readonly number[], opts: PureOptions = {}): PureResult {
  const whole = runPure(codec, [bytes], opts);
  const parts = runPure(codec, chunk(bytes, splits), opts);
  const violations = [...whole.violations, ...parts.violations.map((v) => `(chunked) ${v}`)];
  if (whole.outcome !== parts.outcome) violations.push(`outcome ${whole.outcome} whole but ${parts.outcome} in chunks`);
  else if (whole.frames.join('|') !== parts.frames.join('|')) violations.push('different frames whole and in chunks');
  return { ...whole, violations };
}

/** Counts outcomes by name. */
export class Tally {
  readonly counts = new Map<string, number>();
  total = 0;
  add(outcome: string): void {
    this.total++;
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }
  merge(o: Record<string, number>): void {
    for (const [k, v] of Object.entries(o)) {
      this.counts.set(k, (this.counts.get(k) ?? 0) + v);
      this.total += v;
    }
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
  }
}

const describeViolations = (r: PureResult, bytes: Buffer): string =>
  `${r.violations.join('; ')}\n  input (${bytes.length} bytes): ${bytes.subarray(0, 512).toString('hex')}${bytes.length > 512 ? '…' : ''}`;

// ------------------------------------------------------------------------------ pure properties

export type FieldTableArb = Arbitrary<Frames.FieldTable>;

export function fieldTableArb(fc: FC, codec: Codec): FieldTableArb {
  type FV = Frames.FieldValue;
  const key = fc.string({ maxLength: 12 });
  const { value } = fc.letrec<{ value: FV; table: Frames.FieldTable }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.boolean().map((v): FV => ({ type: 't', value: v })),
      fc.integer({ min: -128, max: 127 }).map((v): FV => ({ type: 'b', value: v })),
      fc.integer({ min: 0, max: 255 }).map((v): FV => ({ type: 'B', value: v })),
      fc.integer({ min: -32768, max: 32767 }).map((v): FV => ({ type: 's', value: v })),
      fc.integer({ min: 0, max: 65535 }).map((v): FV => ({ type: 'u', value: v })),
      fc.integer().map((v): FV => ({ type: 'I', value: v })),
      fc.integer({ min: 0, max: 0xffffffff }).map((v): FV => ({ type: 'i', value: v })),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v): FV => ({ type: 'l', value: v })),
      fc.double({ noNaN: true }).map((v): FV => ({ type: 'd', value: v })),
      fc.record({ scale: fc.integer({ min: 0, max: 255 }), digits: fc.integer({ min: 0, max: 0xffffffff }) }).map((v): FV => ({ type: 'D', value: v })),
      fc.uint8Array({ maxLength: 20 }).map((v): FV => ({ type: 'S', value: Buffer.from(v) })),
      fc.uint8Array({ maxLength: 20 }).map((v): FV => ({ type: 'x', value: Buffer.from(v) })),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v): FV => ({ type: 'T', value: v })),
      fc.constant<FV>({ type: 'V', value: null }),
      fc.array(tie('value'), { maxLength: 4 }).map((v): FV => ({ type: 'A', value: v as FV[] })),
      tie('table').map((v): FV => ({ type: 'F', value: v as Frames.FieldTable })),
    ),
    table: fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 5, selector: (e) => e[0] }).map((entries) => new Map(entries as [string, FV][])),
  }));
  void codec;
  return fc.uniqueArray(fc.tuple(key, value), { maxLength: 6, selector: (e) => e[0] }).map((entries) => new Map(entries));
}

export function encodeTable(codec: Codec, t: Frames.FieldTable): Buffer {
  const w = new codec.Writer(256);
  codec.writeTable(w, t);
  return Buffer.from(w.take());
}

/**
 * A field table nested `depth` levels deep ({a: {a: {a: ...}}}), or for kind 'A' an array of arrays
 * ([[[...]]], the value of no key: wrap it yourself), written front to back in one buffer.
 */
export function deepTable(depth: number, kind: 'F' | 'A' = 'F'): Buffer {
  const level = kind === 'F' ? 7 : 5; // length(4) + [key 'a' (2)] + type (1)
  const total = depth * level + 4;
  const b = Buffer.alloc(total);
  for (let i = 0; i < depth; i++) {
    const off = i * level;
    b.writeUInt32BE(total - off - 4, off);
    if (kind === 'F') b.set([1, 0x61, 0x46], off + 4);
    else b[off + 4] = 0x41;
  }
  b.writeUInt32BE(0, depth * level); // the innermost, empty
  return b;
}

/**
 * The pure properties, shared by the vitest suite (a few hundred runs each) and scripts/fuzz.mjs
 * (batches until the time is up). Each records its outcomes into tally.
 */
export function pureProperties(fc: FC, codec: Codec, tally: Tally, opts: { timeLimitMs?: number } = {}): Record<string, IProperty<any>> {
  const { AmqpError, Reader, decodeMethod, readTable, methodInfo, CommandAssembler } = codec;
  const streams = buildStreams(codec);
  const frameMaxArb = fc.constantFrom(4096, 4097, 8192, SERVER_FRAME_MAX, HANDSHAKE_FRAME_MAX);
  const limit = opts.timeLimitMs ?? 1000;
  const methodIds = [...methodInfo.keys()];

  const expectOnly = (where: string, codes: readonly number[], fn: () => void): string => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      if (!(e instanceof AmqpError)) throw new Error(`${where} threw a non-AmqpError: ${e instanceof Error ? e.stack : String(e)}`);
      if (!codes.includes(e.code)) throw new Error(`${where} threw ${e.code}: ${e.message}`);
      return `E${e.code}`;
    }
  };
  const timed = <T>(fn: () => T): T => {
    const t0 = performance.now();
    const r = fn();
    const ms = performance.now() - t0;
    if (ms > limit) throw new Error(`took ${ms.toFixed(0)} ms`);
    return r;
  };

  const props: Record<string, IProperty<any>> = {
    /** Random bytes straight into the frame parser, whole and in chunks. */
    parserRandomBytes: fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, splits) => {
      const b = Buffer.from(bytes);
      const r = checkPure(codec, b, splits, { timeLimitMs: limit });
      tally.add(`parser-random:${r.outcome}`);
      if (r.violations.length > 0) throw new Error(describeViolations(r, b));
    }),

    /** Random bytes behind a plausible frame header (a known type, a small size) reach the decoders. */
    parserFramedRandom: fc.property(
      fc.array(
        fc.record({
          type: fc.constantFrom(1, 1, 1, 2, 3, 8, 0, 4, 0xce),
          channel: fc.constantFrom(0, 1, 2, 65535),
          payload: fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.tuple(fc.constantFrom(...methodIds), fc.uint8Array({ maxLength: 200 })).map(([id, rest]) => {
              const b = Buffer.alloc(4 + rest.length);
              b.writeUInt32BE(id);
              Buffer.from(rest).copy(b, 4);
              return new Uint8Array(b);
            }),
          ),
          end: fc.constantFrom(0xce, 0xce, 0xce, 0xce, 0x00),
        }),
        { maxLength: 8 },
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      (frames, splits) => {
        const b = Buffer.concat(
          frames.map((f) => {
            const h = Buffer.alloc(7);
            h[0] = f.type;
            h.writeUInt16BE(f.channel, 1);
            h.writeUInt32BE(f.payload.length, 3);
            return Buffer.concat([h, Buffer.from(f.payload), Buffer.from([f.end])]);
          }),
        );
        const r = checkPure(codec, b, splits, { timeLimitMs: limit });
        tally.add(`parser-framed:${r.outcome}`);
        if (r.violations.length > 0) throw new Error(describeViolations(r, b));
      },
    ),

    /** A frame declaring a size beyond frame_max is refused (501) from its 7 header bytes, before any allocation. */
    parserHugeDeclaredSize: fc.property(
      frameMaxArb,
      fc.constantFrom(1, 2, 3, 8),
      fc.oneof(hugeU32(fc), fc.integer({ min: 0, max: 0xffffffff })),
      fc.boolean(),
      (frameMax, type, size, byteByByte) => {
        const head = Buffer.alloc(7 + 64);
        head[0] = type;
        head.writeUInt32BE(size >>> 0, 3);
        let emitted = 0;
        let inCb = false;
        const outcome = trackAllocations(
          () => inCb,
          (alloc) => {
            const p = new codec.FrameParser(frameMax, () => {
              emitted++;
            });
            const res = expectOnly('FrameParser.push', [501], () => {
              if (byteByByte) for (let i = 0; i < head.length; i++) p.push(head.subarray(i, i + 1));
              else p.push(head);
            });
            if (alloc.parser > frameMax) throw new Error(`allocated ${alloc.parser} bytes for a declared size ${size}, frame_max ${frameMax}`);
            return res;
          },
        );
        const tooBig = (size >>> 0) + 8 > frameMax;
        if (tooBig && outcome !== 'E501') throw new Error(`declared size ${size} > frame_max ${frameMax} not refused`);
        if (tooBig && emitted > 0) throw new Error('emitted a frame');
        tally.add(`parser-huge:${outcome}`);
      },
    ),

    /** Mutations of the valid captured streams through the whole pure pipeline. */
    mutatedStreams: fc.property(mutatedCaseArb(fc), (c) => {
      const { name, bytes } = materialize(c, streams);
      const r = checkPure(codec, bytes, c.splits, { withHeader: true, timeLimitMs: limit });
      tally.add(`mutated:${r.outcome}`);
      if (r.violations.length > 0) throw new Error(`[${name}] ${describeViolations(r, bytes)}`);
    }),

    /** decodeMethod over a known method id and random arguments: only 502 may escape. */
    decodeMethodKnownIds: fc.property(fc.constantFrom(...methodIds), fc.uint8Array({ maxLength: 128 }), (id, args) => {
      const b = Buffer.alloc(4 + args.length);
      b.writeUInt32BE(id);
      Buffer.from(args).copy(b, 4);
      const out = timed(() => expectOnly(`decodeMethod(${methodInfo.get(id)!.name})`, [502], () => void decodeMethod(new Reader(b, 0, b.length))));
      tally.add(`decodeMethod:${out}`);
    }),

    /** decodeMethod over any class/method id: unknown ones are 540. */
    decodeMethodAnyId: fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 }), (id, args) => {
      const b = Buffer.alloc(4 + args.length);
      b.writeUInt32BE(id >>> 0);
      Buffer.from(args).copy(b, 4);
      const out = timed(() => expectOnly('decodeMethod', [502, 540], () => void decodeMethod(new Reader(b, 0, b.length))));
      if (!methodInfo.has(id >>> 0) && out !== 'E540') throw new Error(`unknown method id ${id >>> 16}.${id & 0xffff} gave ${out}`);
      tally.add(`decodeMethod-any:${out}`);
    }),

    /** readTable over random bytes (with a plausible length prefix or none): only 502. */
    readTableRandom: fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (bytes, prefix) => {
      let b = Buffer.from(bytes);
      if (prefix) {
        const l = Buffer.alloc(4);
        l.writeUInt32BE(b.length);
        b = Buffer.concat([l, b]);
      }
      const out = timed(() => expectOnly('readTable', [502], () => void readTable(new Reader(b, 0, b.length))));
      tally.add(`readTable-random:${out}`);
    }),

    /** Generated tables encode, decode and encode again to the same bytes; their mutations only give 502. */
    readTableRoundTripAndMutations: fc.property(
      fieldTableArb(fc, codec),
      fc.array(mutationArb(fc), { maxLength: 3 }),
      (table, muts) => {
        const enc = encodeTable(codec, table);
        const back = readTable(new Reader(enc, 0, enc.length));
        const again = encodeTable(codec, back);
        if (!again.equals(enc)) throw new Error(`round trip changed the table: ${enc.toString('hex')} -> ${again.toString('hex')}`);
        const m = applyMutations(enc, muts, []);
        const out = timed(() => expectOnly('readTable', [502], () => void readTable(new Reader(m, 0, m.length))));
        tally.add(`readTable-mutated:${out}`);
      },
    ),

    /** CommandAssembler fed any sequence of frames: allowed codes only, and bodies exactly as declared. */
    assemblerSequences: fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            type: fc.constant(1),
            payload: fc.constantFrom(...methodIds).map((id) => {
              const b = Buffer.alloc(64);
              b.writeUInt32BE(id);
              return b;
            }),
          }),
          fc.record({
            type: fc.constant(2),
            payload: fc
              .record({
                classId: fc.constantFrom(60, 60, 60, 50, 0),
                size: fc.oneof(fc.integer({ min: 0, max: 40 }).map(BigInt), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
                props: fc.uint8Array({ maxLength: 20 }),
              })
              .map(({ classId, size, props }) => {
                const b = Buffer.alloc(12 + props.length);
                b.writeUInt16BE(classId);
                b.writeBigUInt64BE(size, 4);
                Buffer.from(props).copy(b, 12);
                return b;
              }),
          }),
          fc.record({ type: fc.constant(3), payload: fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u)) }),
          fc.record({ type: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u)) }),
        ),
        { maxLength: 12 },
      ),
      fc.constantFrom(0, 10, 1000, MAX_MESSAGE_SIZE),
      (frames, maxBody) => {
        const a = new CommandAssembler(maxBody);
        let declared = -1;
        let outcome = 'ok';
        timed(() => {
          for (const f of frames) {
            if (f.type === 2 && f.payload.length >= 12) declared = Number(f.payload.readBigUInt64BE(4));
            try {
              const cmd = a.push(f.type, f.payload);
              if (cmd?.body && cmd.body.length !== declared) throw new Error(`body of ${cmd.body.length} bytes, header declared ${declared}`);
            } catch (e) {
              if (!(e instanceof AmqpError)) throw e;
              if (!(CODEC_CODES as readonly number[]).includes(e.code)) throw new Error(`CommandAssembler.push threw ${e.code}: ${e.message}`);
              if (e.code === 406 && !(f.type === 2 && declared > maxBody)) throw new Error(`406 for ${e.message}`);
              outcome = `E${e.code}`;
              break;
            }
          }
        });
        tally.add(`assembler:${outcome}`);
      },
    ),
  };
  return props;
}

// ------------------------------------------------------------------------------ the socket oracle

export interface SocketCaseOptions {
  port: number;
  host?: string;
  localAddress?: string;
  /** 'linger': keep the socket open, answer close with close-ok, FIN only after idleMs of silence.
   *  'fin': half-close right after the last byte. */
  mode?: 'linger' | 'fin';
  idleMs?: number;
  /** how long the broker may take to close the socket after our FIN */
  closeTimeoutMs?: number;
  /** ... and after our connection.close-ok. Longer: when the stream ended inside a frame the broker
   * cannot see the close-ok (it is read as part of that frame) and waits for its own close-ok
   * timeout (3 s in connection.ts, as in RabbitMQ) before dropping the socket. */
  closeOkTimeoutMs?: number;
  caseTimeoutMs?: number;
}

export interface SocketCaseResult {
  /** 'conn:<code>', 'header' (server answered a protocol header), 'close-ok', 'closed' (by the server), 'open' (idle, we sent FIN) */
  outcome: string;
  channelCloses: number[];
  replies: number;
  violations: string[];
  ms: number;
}

const METHOD = (c: number, m: number): number => ((c << 16) | m) >>> 0;
const CONNECTION_CLOSE = METHOD(10, 50);
const CONNECTION_CLOSE_OK = METHOD(10, 51);
const CHANNEL_CLOSE = METHOD(20, 40);

function rawMethodFrame(channel: number, classId: number, methodId: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 1;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(4, 3);
  b.writeUInt16BE(classId, 7);
  b.writeUInt16BE(methodId, 9);
  b[11] = 0xce;
  return b;
}

/**
 * Sends bytes (in chunks) over a fresh TCP connection and watches how the broker ends it. Violations:
 * server output that is not well-formed frames, a connection.close or channel.close with a code
 * outside the expected ones, no socket close after close-ok or after our FIN, or the case not
 * finishing within caseTimeoutMs.
 */
export function runSocketCase(chunks: readonly Buffer[], o: SocketCaseOptions): Promise<SocketCaseResult> {
  const idleMs = o.idleMs ?? 80;
  const closeTimeoutMs = o.closeTimeoutMs ?? 3000;
  const closeOkTimeoutMs = o.closeOkTimeoutMs ?? 5000;
  const caseTimeoutMs = o.caseTimeoutMs ?? 10_000;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const violations: string[] = [];
    const channelCloses: number[] = [];
    let replies = 0;
    let heartbeats = 0;
    let outcome = '';
    let rx: Buffer = Buffer.alloc(0);
    let off = 0;
    let headerChecked = false;
    let finished = false;
    let wroteAll = false;
    let weEnded = false;
    let idleTimer: NodeJS.Timeout | null = null;
    let closeTimer: NodeJS.Timeout | null = null;

    const socket = net.connect({ host: o.host ?? '127.0.0.1', port: o.port, localAddress: o.localAddress });
    socket.setNoDelay(true);
    const caseTimer = setTimeout(() => {
      violations.push(`case not finished after ${caseTimeoutMs} ms (hang)`);
      finish();
    }, caseTimeoutMs);

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(caseTimer);
      if (idleTimer) clearTimeout(idleTimer);
      if (closeTimer) clearTimeout(closeTimer);
      socket.destroy();
      if (!outcome) outcome = weEnded ? 'open' : 'closed';
      resolve({ outcome, channelCloses, replies, violations, ms: Date.now() - t0 });
    };

    const expectCloseWithin = (why: string, ms = closeTimeoutMs): void => {
      if (closeTimer) return;
      closeTimer = setTimeout(() => {
        violations.push(`socket still open ${ms} ms after ${why} (hang)`);
        finish();
      }, ms);
    };

    const write = (b: Buffer): void => {
      if (!socket.destroyed && !socket.writableEnded) socket.write(b, () => undefined);
    };

    const armIdle = (): void => {
      if (idleTimer) clearTimeout(idleTimer);
      if (!wroteAll || o.mode === 'fin' || finished || closeTimer) return;
      idleTimer = setTimeout(() => {
        // Nothing more from the broker: it is waiting for input (fine). Say goodbye with a FIN.
        weEnded = true;
        socket.end();
        expectCloseWithin('our FIN');
      }, idleMs);
    };

    const parse = (): void => {
      if (!headerChecked) {
        if (rx.length < 4) return;
        headerChecked = true;
        if (rx.subarray(0, 4).toString('latin1') === 'AMQP') {
          if (rx.length < 8) {
            headerChecked = false;
            return;
          }
          outcome = 'header';
          off = 8;
        }
      }
      while (rx.length - off >= 7) {
        const type = rx[off]!;
        const channel = rx.readUInt16BE(off + 1);
        const size = rx.readUInt32BE(off + 3);
        if (size + 8 > SERVER_FRAME_MAX) {
          violations.push(`broker sent a malformed frame: it declares ${size} bytes: ${rx.subarray(off, off + 32).toString('hex')}`);
          finish();
          return;
        }
        if (rx.length - off < size + 8) return;
        if (rx[off + 7 + size] !== 0xce) {
          violations.push(`broker sent a malformed frame: bad frame-end at offset ${off}: ${rx.subarray(off, off + 32).toString('hex')}`);
          finish();
          return;
        }
        if (type !== 1 && type !== 2 && type !== 3 && type !== 8) violations.push(`broker sent frame type ${type}`);
        const payload = rx.subarray(off + 7, off + 7 + size);
        off += 8 + size;
        replies++;
        if (type === 8) heartbeats++;
        if (type !== 1 || payload.length < 4) continue;
        const id = payload.readUInt32BE(0);
        if (id === CONNECTION_CLOSE) {
          const code = payload.length >= 6 ? payload.readUInt16BE(4) : -1;
          if (!outcome || outcome === 'close-ok') outcome = `conn:${code}`;
          if (!(EXPECTED_CONNECTION_CODES as readonly number[]).includes(code)) {
            const textLen = payload[6] ?? 0;
            violations.push(`connection.close ${code} ${payload.subarray(7, 7 + textLen).toString('utf8')}`);
          }
          write(rawMethodFrame(0, 10, 51));
          expectCloseWithin('our connection.close-ok', closeOkTimeoutMs);
        } else if (id === CHANNEL_CLOSE) {
          const code = payload.length >= 6 ? payload.readUInt16BE(4) : -1;
          channelCloses.push(code);
          if (!(EXPECTED_CHANNEL_CODES as readonly number[]).includes(code)) {
            const textLen = payload[6] ?? 0;
            violations.push(`channel.close ${code} ${payload.subarray(7, 7 + textLen).toString('utf8')}`);
          }
          write(rawMethodFrame(channel, 20, 41));
        } else if (id === CONNECTION_CLOSE_OK) {
          if (!outcome) outcome = 'close-ok';
          expectCloseWithin('connection.close-ok from the broker', closeOkTimeoutMs);
        }
      }
    };

    socket.on('data', (d: Buffer) => {
      rx = rx.length === off ? d : Buffer.concat([rx.subarray(off), d]);
      off = 0;
      const before = replies - heartbeats;
      parse();
      // Heartbeats (a mutated tune-ok may ask for them) do not count as activity.
      if (replies - heartbeats !== before || rx.length > off) armIdle();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'EADDRNOTAVAIL') violations.push(`cannot connect: ${err.code}`);
    });
    socket.on('close', () => {
      if (!finished && rx.length > off && !violations.some((v) => v.startsWith('broker sent'))) {
        violations.push(`broker sent a malformed frame: the socket closed inside it: ${rx.subarray(off, off + 32).toString('hex')}`);
      }
      finish();
    });
    socket.once('connect', () => {
      let i = 0;
      const next = (): void => {
        if (finished) return;
        if (i < chunks.length) {
          write(chunks[i++]!);
          setImmediate(next);
          return;
        }
        wroteAll = true;
        if (o.mode === 'fin') {
          weEnded = true;
          socket.end();
          expectCloseWithin('our FIN');
        } else armIdle();
      };
      next();
    });
  });
}

/** A loopback source address per case (127.x.y.z), so that the broker's auth throttle, which
 * counts failures per address, does not turn every later case into 403. */
export function loopbackAddress(i: number): string {
  const n = (i % 250_000) + 1;
  return `127.${100 + ((n >> 16) & 0x7f)}.${(n >> 8) & 0xff}.${n & 0xff || 1}`;
}

/** The case tag: 6 digits, fixed length so that byte positions do not depend on it. */
export const caseTag = (i: number): string => String(i % 1_000_000).padStart(6, '0');

export interface SocketCase extends MutatedCase {
  mode: 'linger' | 'fin';
}

export function socketCaseArb(fc: FC): Arbitrary<SocketCase> {
  return fc.record({
    base: fc.nat({ max: 1023 }),
    mutations: fc.array(mutationArb(fc), { minLength: 0, maxLength: 4 }),
    splits: fc.array(fc.nat(), { maxLength: 4 }),
    mode: fc.constantFrom('linger', 'linger', 'linger', 'fin'),
  }) as Arbitrary<SocketCase>;
}

/** Builds and runs one socket case; returns the result and the exact bytes sent (for a report). */
export async function runMutatedSocketCase(
  codec: Codec,
  c: SocketCase,
  index: number,
  o: Omit<SocketCaseOptions, 'mode' | 'localAddress'>,
): Promise<{ name: string; bytes: Buffer; result: SocketCaseResult }> {
  const { name, bytes } = materialize(c, buildStreams(codec, caseTag(index)));
  const result = await runSocketCase(chunk(bytes, c.splits), { ...o, mode: c.mode, localAddress: loopbackAddress(index) });
  return { name, bytes, result };
}

/** Runs fn over items with at most `concurrency` at a time (a pool, not batches: one slow case
 * does not hold up the others). */
export async function runPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
