// A message record names its exchange and routing key (and its BCC keys and settled targets, if any); the codec keeps the bytes of the last two
// names it measured and copies them, and shares the last properties read with the next message
// that has the same. Whatever the order names and properties come in (a publisher's same two,
// several queues' alternating, non-ASCII), each record must decode to what was encoded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NameCache, bodyLengthOf, decodeMessage, encodeMessage, messageLength, writeMessage } from '../../src/store/codec.js';
import { Pending, QueueLog, SegmentView, buildSegments } from '../../src/store/segments.js';
import type { StoredMessage } from '../../src/store/store.js';

// Property lists as a publisher sends them: mostly the same few, sometimes one past the size shared.
const properties = fc.oneof(fc.constantFrom(Buffer.from([0x10, 0, 2]), Buffer.from([0x90, 0, 16, ...Buffer.from('application/json'), 2])), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)));
const name = fc.oneof(fc.constantFrom('', 'amq.direct', 'q1', 'q2', 'é-ü', 'x'.repeat(255)), fc.string({ maxLength: 60 }));

describe('message records', () => {
  it('decode to the names, properties and body encoded, for any sequence of names', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ exchange: name, routingKey: name, properties, body: fc.uint8Array({ maxLength: 100 }), bcc: fc.array(fc.oneof(name, fc.constant('k'.repeat(300))), { maxLength: 3 }), settled: fc.array(name, { maxLength: 2 }) }), { minLength: 1, maxLength: 20 }), (list) => {
        let seq = 1;
        const cache = new NameCache();
        const inPlace = new NameCache();
        for (const { exchange, routingKey, properties, body, bcc, settled } of list) {
          // BCC keys are header values, of any length; the others are short strings.
          if ([exchange, routingKey, ...settled].some((n) => Buffer.byteLength(n) > 255)) continue;
          const m = { seq: seq++, redelivered: false, exchange, routingKey, properties, body: Buffer.from(body), expiresAt: 0, bcc, settled };
          const rec = encodeMessage(m);
          // Alone, as a record value is read, and in place between other bytes, as a segment's are.
          const around = Buffer.concat([Buffer.alloc(7, 0xee), rec, Buffer.alloc(5, 0xdd)]);
          for (const d of [decodeMessage(rec, cache), decodeMessage(around, inPlace, 7, 7 + rec.length)]) {
            expect({ seq: d.seq, exchange: d.exchange, routingKey: d.routingKey, properties: d.properties, body: Buffer.from(d.body as Buffer), bcc: d.bcc ?? [], settled: d.settled ?? [] }).toEqual({
              seq: m.seq,
              exchange,
              routingKey,
              properties: m.properties,
              body: m.body,
              bcc,
              settled,
            });
          }
          expect(bodyLengthOf(rec)).toBe(body.length);
          expect(bodyLengthOf(around, 7, 7 + rec.length)).toBe(body.length);
        }
      }),
    );
  });

  it('share one buffer for the same properties in a row, and decode others apart', () => {
    const cache = new NameCache();
    const json = Buffer.from([0x90, 0, 16, ...Buffer.from('application/json'), 2]);
    const rec = (seq: number, props: Buffer): Buffer => encodeMessage({ seq, exchange: '', routingKey: 'q', properties: props, body: Buffer.from('x'), expiresAt: 0 });
    const [a, b, c, d] = [rec(1, json), rec(2, json), rec(3, Buffer.from([0x10, 0, 2])), rec(4, json)].map((r) => decodeMessage(r, cache).properties);
    expect(b).toBe(a);
    expect(c).toEqual(Buffer.from([0x10, 0, 2]));
    expect(d).not.toBe(a);
    expect([a, d]).toEqual([json, json]);
  });

  it('in a segment, leave out the names and properties its first message has, and decode to them', () => {
    // A publisher's same names and properties (the same buffer, or equal bytes in another), with
    // others among them: each record must decode to its own, in place and in any order read.
    const sameProps = fc.constantFrom(Buffer.from([0x10, 0, 2]), Buffer.from([0x10, 0, 2]), Buffer.from([0x90, 0, 16, ...Buffer.from('application/json'), 2]));
    const segName = fc.constantFrom('', 'amq.direct', 'rk.a', 'rk.b', 'é-ü');
    fc.assert(
      fc.property(fc.array(fc.record({ exchange: segName, routingKey: segName, properties: fc.oneof(sameProps, properties), body: fc.uint8Array({ maxLength: 50 }), expires: fc.boolean() }), { minLength: 1, maxLength: 40 }), (list) => {
        const log = new QueueLog(Buffer.from('M\0/\0q\0'), Buffer.from('S\0/\0q\0'), Buffer.from('X\0/\0q\0'));
        const p = new Pending(log);
        const ms: StoredMessage[] = list.map((x, i) => ({ seq: i + 1, redelivered: false, exchange: x.exchange, routingKey: x.routingKey, properties: x.properties, body: Buffer.from(x.body), expiresAt: x.expires ? 1e12 + i : 0 }));
        for (const m of ms) p.add(m);
        const built = buildSegments(p, (m, d) => messageLength(m, false, d), (out, at, m, d) => writeMessage(out, at, m, undefined, d));
        let k = 0;
        for (const b of built) {
          const view = new SegmentView(b.value);
          const cache = new NameCache();
          // Last record first: a record decodes without those before it.
          for (let i = view.count - 1; i >= 0; i--) {
            const m = ms[k + i]!;
            const d = decodeMessage(view.value, cache, view.starts[i]!, view.ends[i]!, view.defaults(cache));
            expect({ seq: d.seq, exchange: d.exchange, routingKey: d.routingKey, properties: d.properties, body: Buffer.from(d.body as Buffer), expiresAt: d.expiresAt }).toEqual({
              seq: m.seq,
              exchange: m.exchange,
              routingKey: m.routingKey,
              properties: m.properties,
              body: m.body,
              expiresAt: m.expiresAt,
            });
            expect(bodyLengthOf(view.value, view.starts[i]!, view.ends[i]!)).toBe((m.body as Buffer).length);
          }
          k += view.count;
        }
        expect(k).toBe(ms.length);
      }),
    );
  });

  it('in a segment of one publisher (one exchange, routing key and properties) carry those once, at its head', () => {
    const props = Buffer.from([0x10, 0, 2]);
    const log = new QueueLog(Buffer.from('M\0/\0q\0'), Buffer.from('S\0/\0q\0'), Buffer.from('X\0/\0q\0'));
    const p = new Pending(log);
    const ms: StoredMessage[] = Array.from({ length: 100 }, (_, i) => ({ seq: i + 1, redelivered: false, exchange: '', routingKey: 'bench.persistent-publish.13513', properties: props, body: Buffer.alloc(16, i), expiresAt: 0 }));
    for (const m of ms) p.add(m);
    const [b] = buildSegments(p, (m, d) => messageLength(m, false, d), (out, at, m, d) => writeMessage(out, at, m, undefined, d));
    // Each record: length(4) seq(8) flags(1) body(16); the names and properties once, at the head.
    expect(b!.value.length).toBe(5 + (1 + 0 + 1 + 30 + 4 + 3) + 100 * (4 + 8 + 1 + 16));
  });

  it('without defaults (a record alone) refuse a record that says it shares them', () => {
    const rec = encodeMessage({ seq: 1, redelivered: false, exchange: '', routingKey: 'q', properties: Buffer.from([0x10, 0, 2]), body: Buffer.from('x'), expiresAt: 0 });
    rec[8] = rec[8]! | 64;
    expect(() => decodeMessage(rec)).toThrow(/shares its segment's names or properties/);
  });
});
