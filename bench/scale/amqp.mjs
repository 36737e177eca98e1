// A minimal AMQP 0-9-1 client for the scale benchmark: the handshake, channel.open, and the few
// methods it pipelines (exchange.declare, queue.declare, queue.bind, confirm.select,
// basic.publish). It is a raw socket with a hand-written codec, so an idle connection costs the
// client a socket and a small object, and a pipelined declare costs it well under a microsecond of
// encoding: the figures are the broker's. Independent of Warren's own codec on purpose.
import { connect as tcpConnect } from 'node:net';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;
const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
const HEARTBEAT_FRAME = Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);

// method ids as (class << 16 | method)
export const M = {
  ConnectionStart: (10 << 16) | 10,
  ConnectionTune: (10 << 16) | 30,
  ConnectionOpenOk: (10 << 16) | 41,
  ConnectionClose: (10 << 16) | 50,
  ConnectionCloseOk: (10 << 16) | 51,
  ConnectionBlocked: (10 << 16) | 60,
  ConnectionUnblocked: (10 << 16) | 61,
  ChannelOpenOk: (20 << 16) | 11,
  ChannelClose: (20 << 16) | 40,
  ChannelCloseOk: (20 << 16) | 41,
  ExchangeDeclareOk: (40 << 16) | 11,
  QueueDeclareOk: (50 << 16) | 11,
  QueueBindOk: (50 << 16) | 21,
  QueueDeleteOk: (50 << 16) | 41,
  ConfirmSelectOk: (85 << 16) | 11,
  BasicAck: (60 << 16) | 80,
  BasicNack: (60 << 16) | 120,
  BasicReturn: (60 << 16) | 50,
};

/** A growable byte builder for frames. */
class Out {
  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
  u8(v) {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v) {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v) {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  u64(v) {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
  }
  shortstr(s) {
    const n = Buffer.byteLength(s);
    this.ensure(1 + n);
    this.buf[this.pos++] = n;
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  longstr(b) {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    this.u32(buf.length);
    this.ensure(buf.length);
    buf.copy(this.buf, this.pos);
    this.pos += buf.length;
  }
  /** A field table of string values only. */
  table(obj = {}) {
    const start = this.pos;
    this.u32(0);
    for (const [k, v] of Object.entries(obj)) {
      this.shortstr(k);
      if (typeof v === 'boolean') {
        this.u8(0x74); // 't'
        this.u8(v ? 1 : 0);
      } else if (typeof v === 'object') {
        this.u8(0x46); // 'F'
        this.table(v);
      } else {
        this.u8(0x53); // 'S'
        this.longstr(String(v));
      }
    }
    this.buf.writeUInt32BE(this.pos - start - 4, start);
  }
  /** Opens a frame; returns the offset to close it at. */
  begin(type, channel) {
    this.ensure(7);
    this.buf[this.pos] = type;
    this.buf.writeUInt16BE(channel, this.pos + 1);
    const at = this.pos;
    this.pos += 7;
    return at;
  }
  end(at) {
    this.buf.writeUInt32BE(this.pos - at - 7, at + 3);
    this.u8(FRAME_END);
  }
  method(channel, classId, methodId, args) {
    const at = this.begin(FRAME_METHOD, channel);
    this.u16(classId);
    this.u16(methodId);
    args?.(this);
    this.end(at);
  }
  take() {
    const b = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return b;
  }
}

const startOk = (() => {
  const o = new Out(512);
  o.method(0, 10, 11, (w) => {
    w.table({ product: 'warren-scale-bench', capabilities: { publisher_confirms: true, 'connection.blocked': true } });
    w.shortstr('PLAIN');
    w.longstr('\0guest\0guest');
    w.shortstr('en_US');
  });
  return o.take();
})();

/** Parses frames out of a byte stream; calls onFrame(type, channel, payload). */
class Parser {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.rest = null;
  }
  push(chunk) {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let pos = 0;
    while (buf.length - pos >= 8) {
      const size = buf.readUInt32BE(pos + 3);
      if (buf.length - pos < size + 8) break;
      this.onFrame(buf[pos], buf.readUInt16BE(pos + 1), buf.subarray(pos + 7, pos + 7 + size));
      pos += size + 8;
    }
    if (pos < buf.length) this.rest = Buffer.from(buf.subarray(pos));
  }
}

const methodId = (p) => p.readUInt32BE(0);
const closeText = (p) => {
  const code = p.readUInt16BE(4);
  const n = p[6];
  return `${code} ${p.toString('utf8', 7, 7 + n)}`;
};

/**
 * One AMQP connection. open() resolves after connection.open-ok. Heartbeats are taken at the
 * broker's proposal (as most clients do) and answered: each heartbeat received is echoed.
 */
export class Conn {
  constructor({ host = '127.0.0.1', port, localAddress, vhost = '/' }) {
    this.host = host;
    this.port = port;
    this.localAddress = localAddress;
    this.vhost = vhost;
    this.socket = null;
    this.out = new Out(256); // grows on demand: an idle connection keeps it small
    this.flushScheduled = false;
    /** Per channel: { pending, waiters: [], onMethod } */
    this.channels = new Map();
    this.error = null;
    this.closed = false;
    this.blocked = false;
  }

  open(timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host: this.host, port: this.port, localAddress: this.localAddress, noDelay: true });
      this.socket = s;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`handshake timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      let done = false;
      const fail = (e) => {
        this.error ??= e;
        this.closed = true;
        if (!done) {
          done = true;
          clearTimeout(timer);
          reject(e);
        }
        for (const ch of this.channels.values()) for (const w of ch.waiters.splice(0)) w.reject(e);
      };
      s.on('error', (e) => fail(e));
      s.on('close', () => fail(this.error ?? new Error('connection closed by the broker')));
      const parser = new Parser((type, channel, payload) => {
        if (type === FRAME_HEARTBEAT) {
          if (!s.destroyed) s.write(HEARTBEAT_FRAME);
          return;
        }
        if (type !== FRAME_METHOD) return;
        const id = methodId(payload);
        if (channel === 0) {
          switch (id) {
            case M.ConnectionStart:
              s.write(startOk);
              return;
            case M.ConnectionTune: {
              const channelMax = payload.readUInt16BE(4);
              const frameMax = payload.readUInt32BE(6);
              const heartbeat = payload.readUInt16BE(10);
              const o = new Out(64);
              o.method(0, 10, 31, (w) => {
                w.u16(channelMax);
                w.u32(frameMax);
                w.u16(heartbeat);
              });
              o.method(0, 10, 40, (w) => {
                w.shortstr(this.vhost);
                w.shortstr('');
                w.u8(0);
              });
              s.write(o.take());
              return;
            }
            case M.ConnectionOpenOk:
              done = true;
              clearTimeout(timer);
              resolve(this);
              return;
            case M.ConnectionClose:
              fail(new Error(`connection.close ${closeText(payload)}`));
              s.destroy();
              return;
            case M.ConnectionBlocked:
              this.blocked = true;
              return;
            case M.ConnectionUnblocked:
              this.blocked = false;
              return;
            default:
              return;
          }
        }
        const ch = this.channels.get(channel);
        if (!ch) return;
        if (id === M.ChannelClose) {
          const e = new Error(`channel ${channel} closed: ${closeText(payload)}`);
          this.error ??= e;
          for (const w of ch.waiters.splice(0)) w.reject(e);
          return;
        }
        if (ch.onMethod && ch.onMethod(id, payload)) return;
        ch.pending--;
        ch.replies++;
        while (ch.waiters.length && ch.pending <= ch.waiters[0].below) ch.waiters.shift().resolve();
      });
      s.on('data', (d) => parser.push(d));
      s.write(PROTOCOL_HEADER);
    });
  }

  /** Queues a method on channel; counts it as awaiting a reply when `reply`. */
  send(channel, classId, methodIdNum, args, reply = true) {
    this.out.method(channel, classId, methodIdNum, args);
    if (reply) this.channels.get(channel).pending++;
    if (this.out.pos > 1 << 16) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush() {
    this.flushScheduled = false;
    if (this.out.pos === 0 || this.socket.destroyed) return;
    return this.socket.write(this.out.take());
  }

  /** Resolves when fewer than `below`+1 replies are outstanding on channel (0: all answered). */
  until(channel, below = 0) {
    const ch = this.channels.get(channel);
    if (this.error) return Promise.reject(this.error);
    if (ch.pending <= below) return Promise.resolve();
    return new Promise((resolve, reject) => ch.waiters.push({ below, resolve, reject }));
  }

  async openChannel(channel) {
    this.channels.set(channel, { pending: 0, replies: 0, waiters: [], onMethod: null });
    this.send(channel, 20, 10, (w) => w.shortstr(''));
    this.flush();
    await this.until(channel);
  }

  exchangeDeclare(channel, name, type, { durable = false } = {}) {
    this.send(channel, 40, 10, (w) => {
      w.u16(0);
      w.shortstr(name);
      w.shortstr(type);
      w.u8(durable ? 2 : 0);
      w.table();
    });
  }

  queueDeclare(channel, name, { durable = false } = {}) {
    this.send(channel, 50, 10, (w) => {
      w.u16(0);
      w.shortstr(name);
      w.u8(durable ? 2 : 0);
      w.table();
    });
  }

  queueBind(channel, queue, exchange, routingKey) {
    this.send(channel, 50, 20, (w) => {
      w.u16(0);
      w.shortstr(queue);
      w.shortstr(exchange);
      w.shortstr(routingKey);
      w.u8(0);
      w.table();
    });
  }

  queueDelete(channel, queue) {
    this.send(channel, 50, 40, (w) => {
      w.u16(0);
      w.shortstr(queue);
      w.u8(0);
    });
  }

  async confirmSelect(channel) {
    this.send(channel, 85, 10, (w) => w.u8(0));
    this.flush();
    await this.until(channel);
  }

  /** basic.publish with a header frame (no properties) and one body frame. */
  publish(channel, exchange, routingKey, body) {
    const o = this.out;
    o.method(channel, 60, 40, (w) => {
      w.u16(0);
      w.shortstr(exchange);
      w.shortstr(routingKey);
      w.u8(0);
    });
    const at = o.begin(FRAME_HEADER, channel);
    o.u16(60);
    o.u16(0);
    o.u64(body.length);
    o.u16(0);
    o.end(at);
    const bt = o.begin(FRAME_BODY, channel);
    o.ensure(body.length);
    body.copy(o.buf, o.pos);
    o.pos += body.length;
    o.end(bt);
  }

  /** Ends the connection without the close handshake (the broker sees the socket go). */
  destroy() {
    this.closed = true;
    this.socket?.destroy();
  }
}
