// The codec on its own: every method and property round-trips byte for byte, and the frame parser
// gives the same frames however the stream is cut.
import { describe, expect, it } from 'vitest';
import {
  AmqpError,
  BodyPieces,
  CommandAssembler,
  FrameParser,
  M,
  Reader,
  ShortStrCache,
  Writer,
  bodyLength,
  decodeBasicProperties,
  decodeMethod,
  encodeBasicProperties,
  encodeMethod,
  joinBody,
  methodInfo,
  readTable,
  toFieldTable,
  writeBodyFrames,
  writeHeaderFrame,
  writeMethodFrame,
  writeTable,
  writeDeliverFrame,
  type Body,
  type FieldTable,
  type MethodInit,
} from '../../src/frames/index.js';
import spec from '../../src/frames/spec/amqp-rabbitmq-0.9.1.json' with { type: 'json' };

const allTypes = (): FieldTable =>
  new Map([
    ['t', { type: 't', value: true }],
    ['b', { type: 'b', value: -5 }],
    ['B', { type: 'B', value: 250 }],
    ['s', { type: 's', value: -300 }],
    ['u', { type: 'u', value: 65000 }],
    ['I', { type: 'I', value: -70000 }],
    ['i', { type: 'i', value: 4_000_000_000 }],
    ['l', { type: 'l', value: -(2n ** 40n) }],
    ['f', { type: 'f', value: 1.5 }],
    ['d', { type: 'd', value: Math.PI }],
    ['D', { type: 'D', value: { scale: 2, digits: 12345 } }],
    ['S', { type: 'S', value: Buffer.from('héllo') }],
    ['x', { type: 'x', value: Buffer.from([0, 1, 2, 255]) }],
    ['A', { type: 'A', value: [{ type: 'I', value: 1 }, { type: 'S', value: Buffer.from('two') }, { type: 'V', value: null }] }],
    ['T', { type: 'T', value: 1_700_000_000n }],
    ['F', { type: 'F', value: new Map([['nested', { type: 't', value: false }]]) }],
    ['V', { type: 'V', value: null }],
    ['10', { type: 'I', value: 10 }],
  ] as const) as FieldTable;

function bytesOf(write: (w: Writer) => void): Buffer {
  const w = new Writer(64);
  write(w);
  return Buffer.from(w.take());
}

/** A plausible value for each argument type, so every method can be encoded. */
function sampleArgs(args: { name: string; type?: string; domain?: string }[]): Record<string, unknown> {
  const domains = new Map((spec as { domains: [string, string][] }).domains);
  const out: Record<string, unknown> = {};
  args.forEach((a, i) => {
    const t = domains.get(a.type ?? a.domain!) ?? a.type ?? a.domain;
    const key = a.name.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    out[key] = {
      octet: 7 + i,
      short: 1000 + i,
      long: 100000 + i,
      longlong: 2 ** 40 + i,
      timestamp: 1_700_000_000 + i,
      bit: i % 2 === 0,
      shortstr: `name-${i}`,
      longstr: Buffer.from(`long-${i}`),
      table: allTypes(),
    }[t as string];
  });
  return out;
}

describe('method codec', () => {
  const classes = (spec as { classes: { id: number; name: string; methods: { id: number; name: string; arguments: [] }[] }[] }).classes;
  const methods = classes.flatMap((c) => c.methods.map((m) => ({ c, m })));

  it('covers every method of the spec, RabbitMQ extensions included', () => {
    expect(methodInfo.size).toBe(methods.length);
    for (const name of ['basic.nack', 'confirm.select', 'exchange.bind', 'exchange.unbind', 'connection.blocked', 'connection.update-secret']) {
      expect([...methodInfo.values()].some((i) => i.name === name), name).toBe(true);
    }
  });

  for (const { c, m } of methods) {
    it(`round-trips ${c.name}.${m.name} byte for byte`, () => {
      const id = (c.id << 16) | m.id;
      const init = { id, args: sampleArgs(m.arguments) } as unknown as MethodInit;
      const bytes = bytesOf((w) => encodeMethod(w, init));
      const decoded = decodeMethod(new Reader(bytes, 0, bytes.length));
      expect(decoded.id).toBe(id);
      expect(decoded.args).toEqual(init.args);
      expect(bytesOf((w) => encodeMethod(w, decoded as MethodInit))).toEqual(bytes);
    });
  }

  it('packs consecutive bits into one octet (queue.declare)', () => {
    const bytes = bytesOf((w) =>
      encodeMethod(w, { id: M.QueueDeclare, args: { queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: true, nowait: true } }),
    );
    // class, method, ticket, "q", bits, empty table
    expect(bytes.toString('hex')).toBe('0032000a' + '0000' + '0171' + '1a' + '00000000');
  });

  it('refuses a string that runs past the end of the frame with 502', () => {
    const bytes = bytesOf((w) => encodeMethod(w, { id: M.QueueDeclare, args: { queue: 'abc' } }));
    bytes[6] = 200; // queue name length far beyond the payload
    expect(() => decodeMethod(new Reader(bytes, 0, bytes.length))).toThrow(AmqpError);
    try {
      decodeMethod(new Reader(bytes, 0, bytes.length));
    } catch (e) {
      expect((e as AmqpError).code).toBe(502);
    }
  });

  it('writes basic.deliver on its fast path byte for byte as the generic encoder does', () => {
    const args = { consumerTag: 'amq.ctag-x', deliveryTag: 2 ** 40 + 7, redelivered: true, exchange: 'ex', routingKey: 'rk.é' };
    const generic = bytesOf((w) => writeMethodFrame(w, 3, { id: M.BasicDeliver, args }));
    const fast = bytesOf((w) => writeDeliverFrame(w, 3, args.consumerTag, args.deliveryTag, args.redelivered, args.exchange, args.routingKey));
    expect(fast).toEqual(generic);
  });

  it('refuses an unknown method with 540', () => {
    const b = Buffer.from([0, 60, 0, 99]);
    expect(() => decodeMethod(new Reader(b, 0, 4))).toThrow(/unknown method/);
  });
});

describe('field tables', () => {
  it('round-trips every type RabbitMQ accepts, in order, byte for byte', () => {
    const bytes = bytesOf((w) => writeTable(w, allTypes()));
    const back = readTable(new Reader(bytes, 0, bytes.length));
    expect([...back.keys()]).toEqual([...allTypes().keys()]);
    expect(back).toEqual(allTypes());
    expect(bytesOf((w) => writeTable(w, back))).toEqual(bytes);
  });

  it('refuses unknown types, overlong lengths and hostile nesting', () => {
    const bad = Buffer.from([0, 0, 0, 3, 1, 0x6b, 0x51]); // key "k", type 'Q'
    expect(() => readTable(new Reader(bad, 0, bad.length))).toThrow(/unknown field type/);
    const long = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]);
    expect(() => readTable(new Reader(long, 0, long.length))).toThrow(AmqpError);
    let t: FieldTable = new Map();
    for (let i = 0; i < 200; i++) t = new Map([['n', { type: 'F', value: t }]]);
    const deep = bytesOf((w) => writeTable(w, t));
    expect(() => readTable(new Reader(deep, 0, deep.length))).toThrow(/nested too deeply/);
  });

  it("infers the types RabbitMQ's management gives JSON values (integers are longs)", () => {
    const t = toFieldTable({ a: 1, b: 'x', c: true, d: 1.5, e: { f: [1] } });
    expect([...t.values()].map((v) => v.type)).toEqual(['l', 'S', 't', 'd', 'F']);
  });
});

describe('basic properties', () => {
  it('round-trips all 14 properties byte for byte', () => {
    const p = {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: allTypes(),
      deliveryMode: 2,
      priority: 5,
      correlationId: 'corr',
      replyTo: 'amq.gen-xyz',
      expiration: '60000',
      messageId: 'mid',
      timestamp: 1_700_000_000,
      type: 't',
      userId: 'guest',
      appId: 'app',
      clusterId: 'c',
    };
    const bytes = bytesOf((w) => encodeBasicProperties(w, p));
    expect(bytes.readUInt16BE(0)).toBe(0xfffc);
    const back = decodeBasicProperties(new Reader(bytes, 0, bytes.length));
    expect(back).toEqual(p);
    expect(bytesOf((w) => encodeBasicProperties(w, back))).toEqual(bytes);
  });
});

describe('frame parser', () => {
  const stream = (): Buffer =>
    bytesOf((w) => {
      writeMethodFrame(w, 1, { id: M.BasicPublish, args: { exchange: '', routingKey: 'q' } });
      const props = bytesOf((pw) => encodeBasicProperties(pw, { deliveryMode: 2, headers: allTypes() }));
      const body = Buffer.alloc(10_000, 7);
      writeHeaderFrame(w, 1, body.length, props);
      writeBodyFrames(w, 1, body, 4096);
      w.u8(8), w.u16(0), w.u32(0), w.u8(0xce); // heartbeat
      writeMethodFrame(w, 2, { id: M.BasicAck, args: { deliveryTag: 5, multiple: true } });
    });

  const parse = (chunks: Buffer[]): { type: number; channel: number; payload: string }[] => {
    const frames: { type: number; channel: number; payload: string }[] = [];
    const p = new FrameParser(4096, (type, channel, payload) => frames.push({ type, channel, payload: payload.toString('hex') }));
    for (const c of chunks) p.push(c);
    return frames;
  };

  it('gives the same frames whole, one byte at a time, and cut at random', () => {
    const s = stream();
    const whole = parse([s]);
    expect(whole.map((f) => f.type)).toEqual([1, 2, 3, 3, 3, 8, 1]);
    const bytes = [...s].map((b) => Buffer.from([b]));
    expect(parse(bytes)).toEqual(whole);
    for (let seed = 1; seed < 20; seed++) {
      const chunks: Buffer[] = [];
      let pos = 0;
      let x = seed;
      while (pos < s.length) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const n = 1 + (x % 5000);
        chunks.push(s.subarray(pos, pos + n));
        pos += n;
      }
      expect(parse(chunks)).toEqual(whole);
    }
  });

  it('reassembles a content body split over frames', () => {
    const s = stream();
    const asm = new CommandAssembler(1 << 20);
    const done: number[] = [];
    new FrameParser(4096, (type, channel, payload) => {
      if (channel !== 1) return;
      const cmd = asm.push(type, payload);
      if (cmd) done.push(cmd.body!.length);
    }).push(s);
    expect(done).toEqual([10_000]);
  });

  it('streams split body frames in pieces: the same commands and bodies however the stream is cut', () => {
    const s = stream();
    // Every method and every whole body, as the broker's connection assembles them (streamBodies).
    const commands = (chunks: Buffer[], streamBodies: boolean): string[] => {
      const asm = new CommandAssembler(1 << 20);
      const out: string[] = [];
      const p = new FrameParser(
        4096,
        (type, channel, payload) => {
          if (channel !== 1) return;
          const cmd = asm.push(type, payload);
          if (cmd) out.push(`${cmd.method.id}:${cmd.properties?.toString('hex')}:${cmd.body?.toString('hex')}`);
        },
        streamBodies,
      );
      for (const c of chunks) p.push(c);
      return out;
    };
    const whole = commands([s], false);
    expect(whole).toHaveLength(1);
    expect(commands([s], true)).toEqual(whole);
    expect(commands([...s].map((b) => Buffer.from([b])), true)).toEqual(whole);
    for (let seed = 1; seed < 40; seed++) {
      const chunks: Buffer[] = [];
      let pos = 0;
      let x = seed;
      while (pos < s.length) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const n = 1 + (x % 3000);
        chunks.push(s.subarray(pos, pos + n));
        pos += n;
      }
      expect(commands(chunks, true)).toEqual(whole);
    }
  });

  it('keeps a body of 32 KiB or more in its pieces when their reads hold at most twice its bytes, and joins it otherwise', () => {
    const sizes = [64 * 1024, 40 * 1024, 64 * 1024 + 5, 300 * 1024, 32 * 1024 - 1];
    const s = bytesOf((w) => {
      for (const n of sizes) {
        writeMethodFrame(w, 1, { id: M.BasicPublish, args: { exchange: '', routingKey: 'q' } });
        writeHeaderFrame(w, 1, n, Buffer.from([0, 0]));
        writeBodyFrames(w, 1, Buffer.alloc(n, n % 251), 131072);
      }
    });
    // Socket reads of 64 KiB, each in memory of its own as Node's are.
    const reads: Buffer[] = [];
    for (let pos = 0; pos < s.length; pos += 65536) reads.push(Buffer.from(s.subarray(pos, pos + 65536)));
    const asm = new CommandAssembler(1 << 20);
    const bodies: Body[] = [];
    const p = new FrameParser(131072, (type, channel, buf, start, end) => {
      const cmd = asm.push(type, buf, start, end);
      if (cmd) bodies.push(cmd.body!);
    }, true);
    for (const r of reads) p.push(r);
    expect(bodies.map(bodyLength)).toEqual(sizes);
    for (let i = 0; i < sizes.length; i++) expect(joinBody(bodies[i]!).equals(Buffer.alloc(sizes[i]!, sizes[i]! % 251))).toBe(true);
    // 64 KiB in two 64 KiB reads: twice its bytes, kept; 40 KiB in two: more than twice, joined;
    // 300 KiB: kept; under 32 KiB: always joined.
    expect(bodies.map((b) => b instanceof BodyPieces)).toEqual([true, false, true, true, false]);
  });

  it('completes no streamed message before its last frame-end octet, and refuses a bad one with 501', () => {
    const s = stream();
    const starts: number[] = [];
    for (let pos = 0; pos < s.length; pos += 8 + s.readUInt32BE(pos + 3)) starts.push(pos);
    // The third body frame's end octet (the message's last byte): cut just before it, then corrupt it.
    expect(starts.map((i) => s[i])).toEqual([1, 2, 3, 3, 3, 8, 1]);
    const lastEnd = starts[5]! - 1;
    const asm = new CommandAssembler(1 << 20);
    let done = 0;
    const p = new FrameParser(4096, (type, channel, payload) => {
      if (channel === 1 && asm.push(type, payload)) done++;
    }, true);
    p.push(s.subarray(0, 100));
    p.push(s.subarray(100, lastEnd));
    expect(done).toBe(0);
    const bad = Buffer.from(s.subarray(lastEnd));
    bad[0] = 0;
    let code = 0;
    try {
      p.push(bad);
    } catch (e) {
      code = (e as AmqpError).code;
    }
    expect(code).toBe(501);
    expect(done).toBe(0);
  });

  it('refuses a bad frame-end, an oversized frame and an unknown type with 501', () => {
    const s = stream();
    const badEnd = Buffer.from(s);
    badEnd[badEnd.indexOf(0xce)] = 0x00;
    const codeOf = (b: Buffer): number => {
      try {
        parse([b]);
      } catch (e) {
        return (e as AmqpError).code;
      }
      return 0;
    };
    expect(codeOf(badEnd)).toBe(501);
    expect(codeOf(Buffer.from([1, 0, 1, 0, 0, 0x20, 0, 0]))).toBe(501); // 8 KiB frame, frame_max 4096
    expect(codeOf(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0xce]))).toBe(501);
  });
});

describe('ShortStrCache', () => {
  const shortstrs = (...names: (string | Buffer)[]): Buffer =>
    Buffer.concat(names.flatMap((n) => {
      const b = typeof n === 'string' ? Buffer.from(n) : n;
      return [Buffer.from([b.length]), b];
    }));

  it('hands out the same string for the same bytes, and the right one for others', () => {
    const r = new Reader(Buffer.alloc(0), 0, 0, new ShortStrCache());
    const read = (b: Buffer): string[] => {
      r.buf = b;
      r.pos = 0;
      r.end = b.length;
      const out: string[] = [];
      while (r.pos < r.end) out.push(r.shortstr());
      return out;
    };
    // 'abXb' and 'aYYb' share a length and first and last bytes: the same slot.
    const first = read(shortstrs('amq.direct', 'orders', 'abXb', 'k\u00e9y', ''));
    const again = read(shortstrs('amq.direct', 'orders', 'aYYb', 'k\u00e9y', ''));
    expect(first).toEqual(['amq.direct', 'orders', 'abXb', 'k\u00e9y', '']);
    expect(again).toEqual(['amq.direct', 'orders', 'aYYb', 'k\u00e9y', '']);
    expect(Object.is(first[1], again[1])).toBe(true);
    expect(read(shortstrs('abXb'))).toEqual(['abXb']);
    // Bytes that are not UTF-8 are refused every time, never cached.
    const bad = shortstrs(Buffer.from([0x61, 0xff, 0x62]));
    expect(() => read(bad)).toThrow(/not valid UTF-8/);
    expect(() => read(bad)).toThrow(/not valid UTF-8/);
  });
});
