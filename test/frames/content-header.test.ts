// The content header's class and body size are read by bytes (CommandAssembler, per message); a
// header frame cut short still goes through the Reader and throws what it always threw.
import { describe, expect, it } from 'vitest';
import { AmqpError, CommandAssembler, M, Reader } from '../../src/frames/index.js';

const PUBLISH = Buffer.from([0, 60, 0, 40, 0, 0, 0, 1, 0x71, 0]); // exchange '', routing key 'q'

function header(classId: number, size: number, props = Buffer.from([0x10, 0, 2])): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(classId, 0);
  b.writeUInt32BE(Math.floor(size / 2 ** 32), 4);
  b.writeUInt32BE(size >>> 0, 8);
  return Buffer.concat([b, props]);
}

function errText(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof AmqpError) return `${e.code} ${e.scope} ${e.replyText}`;
    throw e;
  }
  return 'no error';
}

describe('content header', () => {
  it('reads sizes past 32 bits: a body over the limit is counted, not kept, and refused once it has all come', () => {
    for (const size of [2 ** 32 + 5, 0x1234_5678_9abc, 2 ** 53 - 1]) {
      const a = new CommandAssembler(1000);
      a.push(1, PUBLISH);
      // Refused at the end of the body, as RabbitMQ's channel refuses it (not at the header).
      expect(a.push(2, header(60, size))).toBeNull();
      expect(a.push(3, Buffer.alloc(4096))).toBeNull();
      expect(a.busy).toBe(true);
    }
    const a = new CommandAssembler(1000);
    a.push(1, PUBLISH);
    expect(a.push(2, header(60, 2500))).toBeNull();
    expect(a.push(3, Buffer.alloc(1200))).toBeNull();
    expect(a.push(3, Buffer.alloc(1200))).toBeNull();
    expect(errText(() => a.push(3, Buffer.alloc(100)))).toBe('406 channel PRECONDITION_FAILED - message size 2500 is larger than configured max size 1000');
    // Ready for the next command.
    expect(a.busy).toBe(false);
    expect(a.push(1, PUBLISH)).toBeNull();
    expect(a.push(2, header(60, 3))).toBeNull();
    expect(a.push(3, Buffer.from('abc'))?.body).toEqual(Buffer.from('abc'));
  });

  it('assembles a body of the declared size, in a range of a bigger chunk', () => {
    const a = new CommandAssembler(1 << 20);
    a.push(1, PUBLISH);
    const chunk = Buffer.concat([Buffer.from([7, 7]), header(60, 3), Buffer.from([7])]);
    expect(a.push(2, chunk, 2, chunk.length - 1)).toBeNull();
    const cmd = a.push(3, Buffer.from('abc'));
    expect(cmd?.method.id).toBe(M.BasicPublish);
    expect(cmd?.properties).toEqual(Buffer.from([0x10, 0, 2]));
    expect(cmd?.body).toEqual(Buffer.from('abc'));
  });

  it('refuses a class other than the method’s', () => {
    const a = new CommandAssembler(1000);
    a.push(1, PUBLISH);
    expect(errText(() => a.push(2, header(50, 0)))).toBe('505 connection UNEXPECTED_FRAME - content header for class 50 does not match method class');
  });

  it('throws the Reader’s own error for a header frame cut short', () => {
    const whole = header(60, 3);
    for (let n = 0; n < 12; n++) {
      const cut = whole.subarray(0, n);
      const r = new Reader(cut, 0, n);
      const expected = errText(() => {
        r.u16();
        r.u16();
        r.u64();
      });
      const a = new CommandAssembler(1000);
      a.push(1, PUBLISH);
      expect(errText(() => a.push(2, cut))).toBe(expected);
      expect(expected).not.toBe('no error');
    }
  });
});
