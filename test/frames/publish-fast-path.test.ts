// CommandAssembler decodes basic.publish in place (decodePublish) instead of through decodeMethod:
// on the same bytes it must give the same arguments, or throw the same error, as the generic path,
// however the previous publishes of the channel looked (it reuses their strings).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AmqpError, CommandAssembler, FrameParser, M, Reader, decodeMethodFrame, type Method } from '../../src/frames/index.js';
import { keptViews } from '../../src/frames/kept-views.js';

type Outcome = { ok: Method } | { err: string };

function errOf(e: unknown): string {
  if (!(e instanceof AmqpError)) throw e;
  return `${e.code} ${e.scope} ${e.classId} ${e.methodId} ${e.replyText}`;
}

/** The generic decoder's verdict on a method frame payload. */
function generic(payload: Buffer): Outcome {
  try {
    return { ok: decodeMethodFrame(new Reader(payload, 0, payload.length)) };
  } catch (e) {
    return { err: errOf(e) };
  }
}

const HEADER = Buffer.from([0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 2]); // 0-byte body, delivery-mode 2

/** The assembler's verdict: the payload as a range of a bigger buffer (as a socket chunk gives it). */
function fast(a: CommandAssembler, payload: Buffer): Outcome {
  const chunk = Buffer.concat([Buffer.from([9, 9, 9]), payload, Buffer.from([0xce, 7])]);
  try {
    const cmd = a.push(1, chunk, 3, 3 + payload.length) ?? a.push(2, HEADER);
    return { ok: { ...cmd!.method, args: { ...cmd!.method.args } } as Method };
  } catch (e) {
    a.reset();
    return { err: errOf(e) };
  }
}

function publish(exchange: Buffer, routingKey: Buffer, bits: number, ticket = 0): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt32BE(M.BasicPublish, 0);
  b.writeUInt16BE(ticket, 4);
  return Buffer.concat([b, Buffer.from([exchange.length]), exchange, Buffer.from([routingKey.length]), routingKey, Buffer.from([bits])]);
}

const name = fc.oneof(
  fc.constantFrom('', 'amq.direct', 'q1', 'q2', 'é', 'amq.topic').map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)), // any bytes: invalid UTF-8 too
  fc.string({ maxLength: 30 }).map((s) => Buffer.from(s)),
);
const frame = fc
  .record({ ex: name, rk: name, bits: fc.integer({ min: 0, max: 255 }), ticket: fc.integer({ min: 0, max: 65535 }), cut: fc.nat(), trail: fc.uint8Array({ maxLength: 3 }) })
  .map(({ ex, rk, bits, ticket, cut, trail }) => {
    const whole = Buffer.concat([publish(ex.subarray(0, 255), rk.subarray(0, 255), bits, ticket), trail]);
    // Half the frames whole (with trailing bytes), half cut short somewhere.
    return cut % 2 === 0 ? whole : whole.subarray(0, cut % (whole.length + 1));
  });

describe('basic.publish fast path', () => {
  it('gives what decodeMethodFrame gives, for any sequence of publish frames, malformed ones included', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 12 }), (frames) => {
        const a = new CommandAssembler(1000);
        for (const f of frames) expect(fast(a, f)).toEqual(generic(f));
      }),
      { numRuns: 2000 },
    );
  });

  it('reuses the previous publish strings only while the bytes match', () => {
    const a = new CommandAssembler(1000);
    const p1 = publish(Buffer.from('ex'), Buffer.from('key1'), 1);
    const p2 = publish(Buffer.from('ex'), Buffer.from('key2'), 0);
    const p3 = publish(Buffer.from('ex'), Buffer.from('kéy'), 0);
    for (const p of [p1, p1, p2, p1, p3, p3, p2, Buffer.from(p2.subarray(0, 10))]) expect(fast(a, p)).toEqual(generic(p));
  });

  it('property lists and bodies outlive the chunk they came in; an equal property list is shared', () => {
    const a = new CommandAssembler(1000);
    const send = (props: number[], body: string): { properties: Buffer; body: Buffer } => {
      const p = publish(Buffer.from(''), Buffer.from('q'), 0);
      const h = Buffer.from([0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, body.length, ...props]);
      const chunk = Buffer.concat([p, h, Buffer.from(body)]);
      a.push(1, chunk, 0, p.length);
      a.push(2, chunk, p.length, p.length + h.length);
      const cmd = a.push(3, chunk, p.length + h.length, chunk.length)!;
      chunk.fill(0xee); // the socket's buffer is reused
      return { properties: cmd.properties!, body: cmd.body! };
    };
    const m1 = send([0x10, 0, 2], 'one');
    const m2 = send([0x10, 0, 2], 'two');
    const m3 = send([0x10, 0, 1], 'six');
    expect([m1, m2, m3].map((m) => `${m.properties.toString('hex')}:${m.body.toString()}`)).toEqual(['100002:one', '100002:two', '100001:six']);
    expect(m2.properties).toBe(m1.properties);
    expect(m3.properties).not.toBe(m1.properties);
  });

  it('compares names four bytes at a time within a chunk of many publishes, a nested push of another chunk between them', () => {
    // Names of one length per run that differ in any one byte, so that a compare that skips or
    // misreads a word (or the tail after the last whole word) reuses the wrong strings.
    const base = 'abcdefghijklmnopqrstu';
    const variant = (len: number): fc.Arbitrary<Buffer> =>
      fc.record({ at: fc.nat(), ch: fc.constantFrom('X', 'Y', '') }).map(({ at, ch }) => {
        const s = base.slice(0, len);
        return Buffer.from(len === 0 || ch === '' ? s : s.slice(0, at % len) + ch + s.slice((at % len) + 1));
      });
    const run = fc
      .record({ exLen: fc.integer({ min: 0, max: 9 }), rkLen: fc.integer({ min: 0, max: base.length }) })
      .chain(({ exLen, rkLen }) => fc.array(fc.record({ ex: variant(exLen), rk: variant(rkLen), nest: fc.boolean() }), { minLength: 1, maxLength: 30 }));
    const frameOf = (type: number, payload: Buffer): Buffer => {
      const h = Buffer.alloc(7);
      h[0] = type;
      h.writeUInt16BE(1, 1);
      h.writeUInt32BE(payload.length, 3);
      return Buffer.concat([h, payload, Buffer.from([0xce])]);
    };
    fc.assert(
      fc.property(run, (list) => {
        const frames = list.map(({ ex, rk }) => publish(ex, rk, 0));
        const chunk = Buffer.concat(frames.flatMap((f) => [frameOf(1, f), frameOf(2, HEADER)]));
        const got: Method[] = [];
        const nestedGot: Method[] = [];
        const nested = new FrameParser(4096, (t, _ch, b, start, end) => {
          const cmd = nestedAsm.push(t, b, start, end);
          if (cmd) nestedGot.push({ ...cmd.method, args: { ...cmd.method.args } } as Method);
        }, false, true);
        const nestedAsm = new CommandAssembler(1000);
        const other = Buffer.concat([frameOf(1, publish(Buffer.from('zz'), Buffer.from(base), 0)), frameOf(2, HEADER)]);
        const a = new CommandAssembler(1000);
        let i = 0;
        const parser = new FrameParser(4096, (t, _ch, b, start, end) => {
          const cmd = a.push(t, b, start, end);
          if (!cmd) return;
          got.push({ ...cmd.method, args: { ...cmd.method.args } } as Method);
          if (list[i++]!.nest) nested.push(other);
        }, false, true);
        parser.push(chunk);
        expect(got).toEqual(frames.map((f) => (generic(f) as { ok: Method }).ok));
        expect(nestedGot.every((m) => (m.args as { routingKey: string }).routingKey === base)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a publish while content is due is refused as before', () => {
    const a = new CommandAssembler(1000);
    const p = publish(Buffer.from(''), Buffer.from('q'), 0);
    a.push(1, p);
    expect(() => a.push(1, p)).toThrow('expected content header for basic.publish, got a method frame');
  });
});

describe('FrameParser ranges', () => {
  it('hands on the same payloads as ranges as it does as views, and from a read buffer used again, however the stream is cut', () => {
    const frameOf = (type: number, ch: number, payload: Buffer): Buffer => {
      const h = Buffer.alloc(7);
      h[0] = type;
      h.writeUInt16BE(ch, 1);
      h.writeUInt32BE(payload.length, 3);
      return Buffer.concat([h, payload, Buffer.from([0xce])]);
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.constantFrom(1, 2, 3), ch: fc.integer({ min: 0, max: 3 }), p: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        (frames, cuts, stream) => {
          const s = Buffer.concat(frames.map((f) => frameOf(f.type, f.ch, Buffer.from(f.p))));
          const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const c of [...points, s.length]) {
            chunks.push(s.subarray(prev, c));
            prev = c;
          }
          const seen = (ranges: boolean): string[] => {
            const out: string[] = [];
            const p = new FrameParser(4096, (t, ch, b, start, end) => out.push(`${t}:${ch}:${b.toString('hex', start, end)}`), stream, ranges);
            for (const c of chunks) p.push(c);
            return out;
          };
          expect(seen(true)).toEqual(seen(false));
          // As a connection that reads into a buffer of its own (server/socket-reads.ts) pushes:
          // each chunk at the front of one buffer, stale bytes after it, the buffer written over
          // by the next chunk unless the push kept a view (frames/kept-views.ts).
          const reused: string[] = [];
          const p = new FrameParser(4096, (t, ch, b, start, end) => reused.push(`${t}:${ch}:${b.toString('hex', start, end)}`), stream, true);
          let buf = Buffer.alloc(64, 0xce);
          for (const c of chunks) {
            if (buf.length < c.length) buf = Buffer.alloc(c.length * 2, 0xce);
            c.copy(buf, 0);
            const before = keptViews.count;
            p.push(buf, c.length);
            if (keptViews.count !== before) buf = Buffer.alloc(buf.length, 0xce);
          }
          expect(reused).toEqual(seen(false));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('a publish whole in one chunk (FrameParser onPublish, CommandAssembler.publishFrames)', () => {
  const frameOf = (type: number, ch: number, payload: Buffer, end = 0xce): Buffer => {
    const h = Buffer.alloc(7);
    h[0] = type;
    h.writeUInt16BE(ch, 1);
    h.writeUInt32BE(payload.length, 3);
    return Buffer.concat([h, payload, Buffer.from([end])]);
  };
  const headerOf = (classId: number, size: number, props: number[]): Buffer => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(classId, 0);
    h.writeUInt32BE(Math.floor(size / 0x1_0000_0000), 4);
    h.writeUInt32BE(size >>> 0, 8);
    return Buffer.concat([h, Buffer.from(props)]);
  };
  // A publish as clients send it, and every way it can be off: the header on another channel or of
  // another class, cut short, sizes that do not add up, a body in several frames or none, a body
  // over the limit, another method between, a bad frame end.
  const message = fc
    .record({
      ch: fc.integer({ min: 1, max: 2 }),
      ex: fc.constantFrom('', 'amq.direct', 'x'),
      rk: fc.constantFrom('q', 'q2', 'é'),
      props: fc.constantFrom([0x10, 0, 2], [0x10, 0, 1], [0, 0], [0x80], [0x90, 0, 4, 0x74, 0x65, 0x78, 0x74, 2]),
      body: fc.integer({ min: 0, max: 60 }),
      shape: fc.constantFrom('plain', 'plain', 'plain', 'plain', 'headerOtherChannel', 'bodyOtherChannel', 'class61', 'short', 'declaredMore', 'declaredLess', 'twoBodies', 'noBody', 'huge', 'methodBetween', 'badEnd', 'sizeHigh'),
    })
    .map(({ ch, ex, rk, props, body, shape }) => {
      const m = frameOf(1, ch, publish(Buffer.from(ex), Buffer.from(rk), 0));
      const bytes = Buffer.alloc(shape === 'huge' ? 1500 : body, 0x61 + (body % 26));
      const declared = shape === 'declaredMore' ? bytes.length + 1 : shape === 'declaredLess' ? Math.max(0, bytes.length - 1) : shape === 'sizeHigh' ? 0x1_0000_0000 + bytes.length : bytes.length;
      const header = shape === 'short' ? headerOf(60, declared, []).subarray(0, 13) : headerOf(shape === 'class61' ? 61 : 60, declared, props);
      const h = frameOf(2, shape === 'headerOtherChannel' ? 3 - ch : ch, header);
      const bodies =
        shape === 'noBody'
          ? []
          : shape === 'twoBodies'
            ? [frameOf(3, ch, bytes.subarray(0, bytes.length >> 1)), frameOf(3, ch, bytes.subarray(bytes.length >> 1))]
            : [frameOf(3, shape === 'bodyOtherChannel' ? 3 - ch : ch, bytes, shape === 'badEnd' ? 0xcd : 0xce)];
      const between = shape === 'methodBetween' ? [frameOf(1, ch, Buffer.from([0, 60, 0, 10, 0, 0, 0, 10, 0]))] : [];
      return Buffer.concat([m, ...between, h, ...bodies]);
    });

  let fastTaken = 0;
  const run = (stream: Buffer, cuts: number[], fast: boolean): string[] => {
    const out: string[] = [];
    const asm = new Map<number, CommandAssembler>();
    const of = (ch: number): CommandAssembler => asm.get(ch) ?? asm.set(ch, new CommandAssembler(1000)).get(ch)!;
    const seen = (ch: number, cmd: { method: Method; properties?: Buffer; body?: unknown }): void => {
      const body = cmd.body as Buffer | undefined;
      out.push(`${ch} ${JSON.stringify(cmd.method)} ${cmd.properties?.toString('hex') ?? '-'} ${body ? Buffer.from(body).toString('hex') : '-'}`);
    };
    const parser = new FrameParser(
      4096,
      (t, ch, b, start, end) => {
        try {
          const cmd = of(ch).push(t, b, start, end);
          if (cmd) seen(ch, cmd);
        } catch (e) {
          out.push(`${ch} error ${errOf(e)}`);
          of(ch).reset();
        }
      },
      false,
      true,
      fast
        ? (ch, b, m0, m1, h0, h1, b0, b1) => {
            const a = of(ch);
            const properties = a.publishFrames(b, m0, m1, h0, h1, b0, b1);
            if (properties) {
              fastTaken++;
              seen(ch, { method: { id: M.BasicPublish, args: a.publishArgs } as Method, properties, body: a.publishBody(b, b0, b1) });
            }
            return properties !== null;
          }
        : null,
    );
    const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
    let prev = 0;
    try {
      for (const c of [...points, stream.length]) {
        // Each chunk in a buffer of its own with room after it, as a socket read gives it.
        const buf = Buffer.alloc(Math.max(4096, c - prev), 0xce);
        stream.copy(buf, 0, prev, c);
        parser.push(buf, c - prev);
        prev = c;
      }
    } catch (e) {
      out.push(`framing ${errOf(e)}`);
    }
    return out;
  };

  it('gives the same commands and errors, in the same order, as frame by frame, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }), (messages, cuts) => {
        const stream = Buffer.concat(messages);
        const slow = run(stream, cuts, false);
        const quick = run(stream, cuts, true);
        expect(quick).toEqual(slow);
      }),
      { numRuns: 1500 },
    );
    // (The plain case is taken often: the comparison covers the fast lane, not only its refusals.)
    expect(fastTaken).toBeGreaterThan(300);
  });

  it('takes a plain publish in one call, and leaves anything else frame by frame', () => {
    const stream = Buffer.concat([
      frameOf(1, 1, publish(Buffer.from(''), Buffer.from('q'), 0)),
      frameOf(2, 1, headerOf(60, 3, [0x10, 0, 2])),
      frameOf(3, 1, Buffer.from('abc')),
      frameOf(1, 1, publish(Buffer.from(''), Buffer.from('q'), 0)),
      frameOf(2, 1, headerOf(60, 4, [0x10, 0, 2])),
      frameOf(3, 1, Buffer.from('ab')),
      frameOf(3, 1, Buffer.from('cd')),
    ]);
    const calls: string[] = [];
    const a = new CommandAssembler(1000);
    const parser = new FrameParser(
      4096,
      (t, _ch, b, start, end) => {
        calls.push(`frame ${t}`);
        const cmd = a.push(t, b, start, end);
        if (cmd) calls.push(`command ${Buffer.from(cmd.body as Buffer).toString()}`);
      },
      false,
      true,
      (_ch, b, m0, m1, h0, h1, b0, b1) => {
        const properties = a.publishFrames(b, m0, m1, h0, h1, b0, b1);
        calls.push(properties ? `publish ${a.publishBody(b, b0, b1).toString()}` : 'declined');
        return properties !== null;
      },
    );
    const buf = Buffer.alloc(4096);
    stream.copy(buf);
    parser.push(buf, stream.length);
    expect(calls).toEqual(['publish abc', 'declined', 'frame 1', 'frame 2', 'frame 3', 'frame 3', 'command abcd']);
  });
});
