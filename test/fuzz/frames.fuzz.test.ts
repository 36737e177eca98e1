// Property-based fuzzing of the pure codec (src/frames): FrameParser, CommandAssembler, decodeMethod
// and readTable fed random bytes and mutations of valid captured client streams. Nothing but an
// AmqpError with an expected code may escape; the parser never allocates more than frame_max; no
// input takes long. The long-running version of the same properties is scripts/fuzz.mjs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as codec from '../../src/frames/index.js';
import {
  HANDSHAKE_FRAME_MAX,
  Tally,
  buildStreams,
  checkPure,
  chunk,
  deepTable,
  pureProperties,
  runPure,
  scanFrames,
} from './corpus.js';

const { AmqpError, Reader, readTable, decodeMethod, encodeMethod, Writer, FrameParser } = codec;

/** FUZZ_SEED=<n> replays a failing run; fast-check prints the seed and path of a failure. */
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(seed === undefined ? {} : { seed }) });

const tally = new Tally();
const props = pureProperties(fc, codec, tally, { timeLimitMs: 1000 });

function codeOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof AmqpError) return e.code;
    return `non-AmqpError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

describe('captured corpus (positive control)', () => {
  const streams = buildStreams(codec);

  it('every valid stream passes the pure pipeline without error, whole and byte by byte', () => {
    for (const s of streams) {
      const r = runPure(codec, [s.bytes], { withHeader: true });
      expect(r.violations, s.name).toEqual([]);
      expect(r.outcome, s.name).toBe('ok');
      expect(r.frames.length, s.name).toBeGreaterThan(5);
      const bytewise = checkPure(codec, s.bytes, [...Array(s.bytes.length).keys()], { withHeader: true });
      expect(bytewise.violations, s.name).toEqual([]);
    }
  });

  it('every method frame in the corpus decodes and encodes back to the same bytes', () => {
    let n = 0;
    for (const s of streams) {
      for (const f of scanFrames(s.bytes)) {
        if (f.type !== 1) continue;
        const payload = s.bytes.subarray(f.start + 7, f.start + 7 + f.size);
        const m = decodeMethod(new Reader(payload, 0, payload.length));
        const w = new Writer(256);
        encodeMethod(w, m as codec.MethodInit);
        expect(Buffer.from(w.take()).toString('hex'), `${s.name} frame at ${f.start}`).toBe(payload.toString('hex'));
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
  });
});

describe('FrameParser', () => {
  it('random bytes: only 501 escapes, chunking does not matter, allocation stays under frame_max', () => {
    fc.assert(props.parserRandomBytes!, params(400));
  });

  it('random frames with plausible headers: only codec codes escape', () => {
    fc.assert(props.parserFramedRandom!, params(400));
  });

  it('a huge declared frame size is refused with 501 from the header alone, before allocating', () => {
    fc.assert(props.parserHugeDeclaredSize!, params(300));
  });

  it('a 4 GiB declared size, sent a byte at a time, allocates nothing beyond the 7-byte header', () => {
    const frame = Buffer.from([1, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    const r = runPure(codec, chunk(frame, [1, 2, 3, 4, 5, 6]));
    expect(r.outcome).toBe('E501');
    expect(r.violations).toEqual([]);
    expect(r.alloc.parser).toBeLessThanOrEqual(HANDSHAKE_FRAME_MAX);
  });

  it('frame_max renegotiated down by tune-ok applies to the very next frame', () => {
    const [hs] = buildStreams(codec).filter((s) => s.name === 'frame-max-4096-multi-frame-body');
    const r = runPure(codec, [hs!.bytes], { withHeader: true });
    expect(r.violations).toEqual([]);
    expect(r.outcome).toBe('ok');
    // A 5000-byte frame after tune-ok(4096) is refused.
    const big = Buffer.alloc(5000 + 8);
    big[0] = 3;
    big.writeUInt16BE(1, 1);
    big.writeUInt32BE(5000, 3);
    big[big.length - 1] = 0xce;
    const handshakeOnly = hs!.bytes.subarray(0, scanFrames(hs!.bytes)[3]!.start); // header, start-ok, tune-ok, open
    const r2 = runPure(codec, [Buffer.concat([handshakeOnly, big])], { withHeader: true });
    expect(r2.outcome).toBe('E501');
    expect(r2.violations).toEqual([]);
  });
});

describe('mutated captured streams (bit flips, inserts, deletes, truncation, huge lengths, splices)', () => {
  it('only expected codes escape, allocation is bounded, chunking does not matter', () => {
    fc.assert(props.mutatedStreams!, params(500));
  });
});

describe('decodeMethod', () => {
  it('known method ids with random arguments: only 502', () => {
    fc.assert(props.decodeMethodKnownIds!, params(500));
  });

  it('any method id: unknown ones are 540 NOT_IMPLEMENTED', () => {
    fc.assert(props.decodeMethodAnyId!, params(300));
  });

  it('class 99 / method 0xffff is 540', () => {
    const b = Buffer.from([0, 99, 0xff, 0xff]);
    expect(codeOf(() => decodeMethod(new Reader(b, 0, b.length)))).toBe(540);
  });
});

describe('readTable', () => {
  it('random bytes: only 502', () => {
    fc.assert(props.readTableRandom!, params(500));
  });

  it('generated tables round-trip byte for byte; their mutations only give 502', () => {
    fc.assert(props.readTableRoundTripAndMutations!, params(300));
  });

  it('a table nested 10,000 levels deep is 502, not a stack overflow', () => {
    const arrays = deepTable(10_000, 'A');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(3 + arrays.length);
    const inputs = {
      '{a: {a: ...}}': deepTable(10_000, 'F'),
      '{a: [[[...]]]}': Buffer.concat([len, Buffer.from([1, 0x61, 0x41]), arrays]),
    };
    for (const [what, table] of Object.entries(inputs)) {
      const t0 = performance.now();
      expect(codeOf(() => readTable(new Reader(table, 0, table.length))), what).toBe(502);
      expect(performance.now() - t0, what).toBeLessThan(1000);
    }
  });

  it('a length running past the end of the frame is 502 and allocates nothing of that size', () => {
    for (const len of [5, 0x7fffffff, 0xffffffff]) {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(len);
      expect(codeOf(() => readTable(new Reader(b, 0, b.length))), String(len)).toBe(502);
    }
    // A long string inside a table whose length overflows the table.
    const inner = Buffer.from([1, 0x61, 0x53, 0xff, 0xff, 0xff, 0xf0, 0x41]);
    const t = Buffer.concat([Buffer.from([0, 0, 0, inner.length]), inner]);
    expect(codeOf(() => readTable(new Reader(t, 0, t.length)))).toBe(502);
  });
});

describe('CommandAssembler', () => {
  it('any frame sequence: only codec codes escape, 406 only for a declared size over the max, bodies exactly as declared', () => {
    fc.assert(props.assemblerSequences!, params(500));
  });

  it('a body larger than the header declared is refused (505 UNEXPECTED_FRAME in this broker)', () => {
    // RabbitMQ 3.13 did not check this at all; 4.2/4.3 (April 2026) answer 501 FRAME_ERROR.
    const a = new codec.CommandAssembler(1000);
    const pub = Buffer.alloc(64);
    pub.writeUInt32BE(codec.M.BasicPublish);
    expect(a.push(1, pub)).toBe(null);
    const header = Buffer.alloc(14);
    header.writeUInt16BE(60);
    header.writeBigUInt64BE(3n, 4);
    expect(a.push(2, header)).toBe(null);
    expect(codeOf(() => a.push(3, Buffer.from('four')))).toBe(505);
  });

  it('a declared size over the max is 406 once its body has come (as RabbitMQ), the body counted and not kept', () => {
    const a = new codec.CommandAssembler(1000);
    const pub = Buffer.alloc(64);
    pub.writeUInt32BE(codec.M.BasicPublish);
    a.push(1, pub);
    const header = Buffer.alloc(14);
    header.writeUInt16BE(60);
    header.writeBigUInt64BE(2n ** 64n - 1n, 4);
    expect(a.push(2, header)).toBe(null);
    expect(a.push(3, Buffer.alloc(4096))).toBe(null);
    const b = new codec.CommandAssembler(1000);
    b.push(1, pub);
    header.writeBigUInt64BE(2000n, 4);
    expect(b.push(2, header)).toBe(null);
    expect(b.push(3, Buffer.alloc(1500))).toBe(null);
    expect(codeOf(() => b.push(3, Buffer.alloc(500)))).toBe(406);
    // A body over its declared size is still the connection's 505.
    b.push(1, pub);
    expect(b.push(2, header)).toBe(null);
    expect(codeOf(() => b.push(3, Buffer.alloc(2001)))).toBe(505);
  });
});

describe('FrameParser state after an error', () => {
  it('a parser that threw keeps throwing or stays quiet; it never emits a frame from garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const frames: number[] = [];
        const p = new FrameParser(4096, (t) => frames.push(t));
        const c1 = codeOf(() => p.push(Buffer.from(a)));
        if (c1 === 'ok') return;
        expect(c1).toBe(501);
        const before = frames.length;
        const c2 = codeOf(() => p.push(Buffer.from(b)));
        expect([501, 'ok']).toContain(c2);
        // After an error the connection is closing; frames still emitted would be processed as if valid.
        tally.add(`after-error:${c2}:${frames.length - before > 0 ? 'emitted' : 'quiet'}`);
      }),
      params(200),
    );
  });
});

it('summary of outcomes', () => {
  // Not an assertion: shows in `vitest --reporter verbose` output how the inputs were classified.
  expect(tally.total).toBeGreaterThan(1000);
  console.log(`pure fuzz: ${tally.total} inputs`, tally.toJSON());
});
