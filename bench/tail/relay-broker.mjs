#!/usr/bin/env node
// The floor of a broker in one Node thread for latency: just enough AMQP 0-9-1 for goperf's
// latency scenario (handshake, channel, queue.declare/delete, qos, consume, publish), and every
// publish relayed at once to the one consumer as basic.deliver, its header and body frames copied
// through. No routing, no queue, no store, no acks kept; writes coalesced per tick and written once
// (setImmediate), as Warren's writer does. Whatever tail this has on a machine is Node's and the
// machine's, not a broker's (bench/latency-floor.mjs runs it beside the brokers). Benchmark only.
//
//   node bench/tail/relay-broker.mjs [--port 0]     prints "listening PORT"
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const FRAME_END = 0xce;

function frame(type, channel, payload) {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b[7 + payload.length] = FRAME_END;
  return b;
}
const method = (cls, id, ...fields) => {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt16BE(cls, 0);
  h.writeUInt16BE(id, 2);
  return Buffer.concat([h, ...fields]);
};
const shortstr = (s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const longstr = (s) => {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(Buffer.byteLength(s));
  return Buffer.concat([h, Buffer.from(s)]);
};
const u16 = (v) => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v) => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v);
  return b;
};
const shortstrAt = (p, at) => p.toString('latin1', at + 1, at + 1 + p[at]);

/** The one consumer every publish goes to (goperf's latency scenario has one). */
let consumer = null;

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  sock.on('error', () => {});
  const out = [];
  let scheduled = false;
  const send = (b) => {
    out.push(b);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
      out.length = 0;
    });
  };
  let buf = Buffer.alloc(0);
  let started = false;
  let publish = null; // { exchange, routingKey } of the publish whose content is due
  sock.on('data', (d) => {
    buf = buf.length > 0 ? Buffer.concat([buf, d]) : d;
    if (!started) {
      if (buf.length < 8) return;
      buf = buf.subarray(8);
      started = true;
      send(frame(1, 0, method(10, 10, Buffer.from([0, 9]), u32(0), longstr('PLAIN'), longstr('en_US'))));
    }
    while (buf.length >= 8) {
      const type = buf[0];
      const ch = buf.readUInt16BE(1);
      const size = buf.readUInt32BE(3);
      if (buf.length < size + 8) break;
      const p = buf.subarray(7, 7 + size);
      buf = buf.subarray(size + 8);
      if (type === 2 || type === 3) {
        if (!consumer || !publish) continue;
        const c = consumer;
        if (type === 2) {
          const tag = Buffer.allocUnsafe(8);
          tag.writeBigUInt64BE(BigInt(++c.deliveryTag));
          c.send(frame(1, c.channel, method(60, 60, shortstr(c.tag), tag, Buffer.from([0]), shortstr(publish.exchange), shortstr(publish.routingKey))));
        }
        c.send(frame(type, c.channel, p));
        continue;
      }
      if (type !== 1) continue;
      const key = (p.readUInt16BE(0) << 16) | p.readUInt16BE(2);
      switch (key) {
        case (10 << 16) | 11: // connection.start-ok
          send(frame(1, 0, method(10, 30, u16(2047), u32(131072), u16(0))));
          break;
        case (10 << 16) | 40: // connection.open
          send(frame(1, 0, method(10, 41, shortstr(''))));
          break;
        case (10 << 16) | 50: // connection.close
          send(frame(1, 0, method(10, 51)));
          break;
        case (20 << 16) | 10: // channel.open
          send(frame(1, ch, method(20, 11, longstr(''))));
          break;
        case (20 << 16) | 40: // channel.close
          send(frame(1, ch, method(20, 41)));
          break;
        case (50 << 16) | 10: // queue.declare
          send(frame(1, ch, method(50, 11, shortstr(shortstrAt(p, 6)), u32(0), u32(0))));
          break;
        case (50 << 16) | 40: // queue.delete
          send(frame(1, ch, method(50, 41, u32(0))));
          break;
        case (60 << 16) | 10: // basic.qos
          send(frame(1, ch, method(60, 11)));
          break;
        case (60 << 16) | 20: // basic.consume
          consumer = { send, channel: ch, tag: 'relay-ctag', deliveryTag: 0 };
          send(frame(1, ch, method(60, 21, shortstr(consumer.tag))));
          break;
        case (85 << 16) | 10: // confirm.select
          send(frame(1, ch, method(85, 11)));
          break;
        case (60 << 16) | 40: {
          // basic.publish: ticket(2) exchange routing-key bits
          const exAt = 6;
          const rkAt = exAt + 1 + p[exAt];
          publish = { exchange: shortstrAt(p, exAt), routingKey: shortstrAt(p, rkAt) };
          break;
        }
        default: // acks and the rest: nothing to answer
      }
    }
  });
});
server.listen(Number(args.port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
