#!/usr/bin/env node
// The "null broker": just enough AMQP 0-9-1 to let amqplib connect, declare, publish and confirm.
// Publishes are discarded (and acked at once in confirm mode); nothing is ever delivered. Run
// against it, a publishing client shows its own ceiling. Prints "listening <port>".
// Usage: node bench/null-broker.mjs [--port 0]
import { createServer } from 'node:net';

const portArg = process.argv.indexOf('--port');
const PORT = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;

// --- encoding
const shortstr = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length]), b]);
};
const longstr = (s) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
};
const table = (obj) => {
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    parts.push(shortstr(k));
    if (typeof v === 'boolean') parts.push(Buffer.from([0x74, v ? 1 : 0]));
    else if (typeof v === 'string') parts.push(Buffer.from('S'), longstr(v));
    else parts.push(Buffer.from('F'), table(v));
  }
  return longstr(Buffer.concat(parts));
};
const u8 = (n) => Buffer.from([n]);
const u16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
const method = (channel, cls, mth, ...args) => {
  const payload = Buffer.concat([u16(cls), u16(mth), ...args]);
  const h = Buffer.alloc(7);
  h[0] = 1;
  h.writeUInt16BE(channel, 1);
  h.writeUInt32BE(payload.length, 3);
  return Buffer.concat([h, payload, Buffer.from([0xce])]);
};

// --- decoding helpers (only what replies need)
const readShortstr = (b, o) => [b.toString('utf8', o + 1, o + 1 + b[o]), o + 1 + b[o]];

function serve(sock) {
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let handshake = false;
  let qn = 0;
  let ctag = 0;
  const confirm = new Map(); // channel -> { tag, acked }
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const out = [];
    if (!handshake) {
      if (buf.length < 8) return;
      buf = buf.subarray(8);
      handshake = true;
      out.push(
        method(0, 10, 10, u8(0), u8(9), table({ product: 'null-broker', capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true, 'connection.blocked': true, exchange_exchange_bindings: true } }), longstr('PLAIN AMQPLAIN'), longstr('en_US')),
      );
    }
    let o = 0;
    while (buf.length - o >= 7) {
      const type = buf[o];
      const ch = buf.readUInt16BE(o + 1);
      const size = buf.readUInt32BE(o + 3);
      if (buf.length - o < size + 8) break;
      const p = o + 7;
      o += size + 8;
      if (type !== 1) continue; // content header / body / heartbeat: ignored
      const cls = buf.readUInt16BE(p);
      const mth = buf.readUInt16BE(p + 2);
      const a = p + 4;
      const key = cls * 1000 + mth;
      switch (key) {
        case 10011: // connection.start-ok
          out.push(method(0, 10, 30, u16(2047), u32(131072), u16(0)));
          break;
        case 10031: // tune-ok
          break;
        case 10040: // connection.open
          out.push(method(0, 10, 41, shortstr('')));
          break;
        case 10050: // connection.close
          out.push(method(0, 10, 51));
          sock.end(Buffer.concat(out));
          return;
        case 20010: // channel.open
          out.push(method(ch, 20, 11, longstr('')));
          break;
        case 20040: // channel.close
          confirm.delete(ch);
          out.push(method(ch, 20, 41));
          break;
        case 40010: // exchange.declare
          if (!(buf[a + 2 + 1 + buf[a + 2] + 1 + buf[a + 3 + buf[a + 2]]] & 0x10)) out.push(method(ch, 40, 11));
          break;
        case 40020:
          out.push(method(ch, 40, 21));
          break;
        case 50010: {
          // queue.declare
          let [name] = readShortstr(buf, a + 2);
          if (!name) name = `amq.gen-null-${++qn}`;
          out.push(method(ch, 50, 11, shortstr(name), u32(0), u32(0)));
          break;
        }
        case 50020:
          out.push(method(ch, 50, 21));
          break;
        case 50030:
          out.push(method(ch, 50, 31, u32(0)));
          break;
        case 50040:
          out.push(method(ch, 50, 41, u32(0)));
          break;
        case 60010:
          out.push(method(ch, 60, 11));
          break;
        case 60020: {
          // basic.consume
          const [, o2] = readShortstr(buf, a + 2);
          let [tag] = readShortstr(buf, o2);
          if (!tag) tag = `null-ctag-${++ctag}`;
          out.push(method(ch, 60, 21, shortstr(tag)));
          break;
        }
        case 60030: {
          const [tag] = readShortstr(buf, a);
          out.push(method(ch, 60, 31, shortstr(tag)));
          break;
        }
        case 60040: {
          // basic.publish
          const c = confirm.get(ch);
          if (c) c.tag++;
          break;
        }
        case 85010: // confirm.select
          confirm.set(ch, { tag: 0, acked: 0 });
          out.push(method(ch, 85, 11));
          break;
        default:
          break;
      }
    }
    buf = o === buf.length ? Buffer.alloc(0) : buf.subarray(o);
    for (const [chn, c] of confirm) {
      if (c.tag > c.acked) {
        out.push(method(chn, 60, 80, u64(c.tag), u8(1))); // basic.ack, multiple
        c.acked = c.tag;
      }
    }
    if (out.length) sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
  });
}

const server = createServer(serve);
server.listen(PORT, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
