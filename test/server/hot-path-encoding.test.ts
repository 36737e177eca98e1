// The hot paths' hand-written encodings give the same bytes as the general encoders they bypass:
// a stream delivery's x-stream-offset header spliced into the raw properties, short strings
// written byte by byte, and stored message records with ASCII and non-ASCII names.
import { describe, expect, it } from 'vitest';
import { Writer, decodeBasicProperties, encodeBasicProperties, Reader, type BasicProperties } from '../../src/frames/index.js';
import { withStreamOffset } from '../../src/server/stream-log.js';
import { bodyLengthOf, decodeMessage, encodeMessage } from '../../src/store/codec.js';

const encode = (p: BasicProperties): Buffer => {
  const w = new Writer(256);
  encodeBasicProperties(w, p);
  return Buffer.from(w.take());
};
const decode = (b: Buffer): BasicProperties => decodeBasicProperties(new Reader(b, 0, b.length));

describe('withStreamOffset', () => {
  const cases: BasicProperties[] = [
    {},
    { deliveryMode: 2 },
    { contentType: 'text/plain' },
    { contentEncoding: 'gzip', deliveryMode: 1 },
    { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, priority: 3, correlationId: 'c', replyTo: 'r', expiration: '100', messageId: 'm', timestamp: 12345, type: 't', userId: 'guest', appId: 'a' },
  ];
  for (const props of cases) {
    for (const offset of [0, 1, 255, 2 ** 32 - 1, 2 ** 32 + 7, 2 ** 52 + 3]) {
      it(`${JSON.stringify(props)} at ${offset}: as decoding and re-encoding gives`, () => {
        const expected = encode({ ...props, headers: new Map([['x-stream-offset', { type: 'l', value: BigInt(offset) }]]) });
        expect(withStreamOffset(encode(props), offset)).toEqual(expected);
      });
    }
  }
  const withHeaders: BasicProperties[] = [
    { headers: new Map(), deliveryMode: 2 }, // what amqplib sends
    { contentType: 'text/plain', headers: new Map([['a', { type: 'S', value: Buffer.from('b') }]]), priority: 1 },
    { headers: new Map([['x-stream', { type: 'l', value: 1n }], ['n', { type: 'F', value: new Map([['k', { type: 'I', value: 7 }]]) }]]) },
  ];
  for (const props of withHeaders) {
    it(`${[...(props.headers?.keys() ?? [])].join(',') || 'empty headers'}: the entry appended, as decoding and re-encoding gives`, () => {
      const headers = new Map(props.headers);
      headers.set('x-stream-offset', { type: 'l', value: 77n });
      expect(withStreamOffset(encode(props), 77)).toEqual(encode({ ...props, headers }));
    });
  }
  it('leaves headers that may hold x-stream-offset to the decoding path', () => {
    const raw = encode({ headers: new Map([['x-stream-offset', { type: 'l', value: 3n }]]) });
    expect(withStreamOffset(raw, 5)).toBeNull();
    expect(decode(raw).headers?.size).toBe(1);
  });
});

describe('short strings', () => {
  for (const s of ['', 'amq.direct', 'bench.quorum.warren1-x', 'é', 'ключ', '😀x', 'a'.repeat(255)]) {
    it(`${JSON.stringify(s.slice(0, 20))} as Buffer#write would`, () => {
      const w = new Writer(16);
      w.shortstr(s);
      const b = Buffer.from(w.take());
      const bytes = Buffer.from(s, 'utf8');
      expect(b).toEqual(Buffer.concat([Buffer.from([bytes.length]), bytes]));
    });
  }
});

describe('stored message records', () => {
  for (const [exchange, routingKey] of [
    ['', 'q'],
    ['amq.topic', 'a.b.c'],
    ['échange', 'clé.😀'],
    ['x', 'z'.repeat(255)],
  ] as const) {
    it(`${exchange}/${routingKey.slice(0, 20)} round-trips`, () => {
      const m = { seq: 2 ** 40 + 5, redelivered: true, exchange, routingKey, properties: encode({ deliveryMode: 2 }), body: Buffer.from('body'), expiresAt: 0, deliveryCount: 3 };
      const back = decodeMessage(encodeMessage(m));
      expect({ ...back, properties: Buffer.from(back.properties), body: Buffer.from(back.body) }).toEqual(m);
    });
  }
  // Recovery without a clean shutdown's totals counts bytes with bodyLengthOf.
  it('bodyLengthOf skips the expiry and the delivery count', () => {
    for (const extra of [{}, { expiresAt: 1e12 }, { deliveryCount: 2 }, { expiresAt: 1e12, deliveryCount: 9 }]) {
      const m = { seq: 1, redelivered: false, exchange: 'x', routingKey: 'rk', properties: encode({}), body: Buffer.alloc(1234), expiresAt: 0, ...extra };
      expect(bodyLengthOf(encodeMessage(m))).toBe(1234);
    }
  });
});
