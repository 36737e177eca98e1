// Protocol-level conformance: malformed and out-of-order frames, checked
// against RabbitMQ 3.x's reply codes, using a hand-written raw client.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, GetMessage } from 'amqplib';
import { startBroker } from '../../src/index.js';
import {
  ArgReader,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M,
  PROTOCOL_HEADER,
  RawAmqp,
  basicGetFrame,
  basicPublishFrame,
  bits,
  channelOpenFrame,
  connectionOpenFrame,
  contentBodyFrame,
  contentHeaderFrame,
  decodeTune,
  frame,
  heartbeatFrame,
  methodFrame,
  queueDeclareFrame,
  shortstr,
  longstr,
  table,
  defaultClientProperties,
  startOkFrame,
  tuneOkFrame,
  u16,
  type CloseResult,
} from '../helpers/raw-amqp.js';
import { sleep } from '../helpers/async.js';

type Broker = { port: number; close(): Promise<void> };

let broker: Broker;
const openConns: ChannelModel[] = [];
const raws: RawAmqp[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

// ---------------------------------------------------------------- helpers


async function connectGood(): Promise<ChannelModel> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

async function raw(): Promise<RawAmqp> {
  const r = await RawAmqp.connect(broker.port);
  raws.push(r);
  return r;
}

async function rawOpen(o?: Parameters<RawAmqp['handshake']>[0]): Promise<RawAmqp> {
  const r = await raw();
  await r.handshake(o);
  return r;
}

/** publish + get on a well-behaved amqplib connection */
async function assertHealthy(conn: ChannelModel, label: string): Promise<void> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const payload = `ping ${randomUUID()}`;
  ch.sendToQueue(queue, Buffer.from(payload));
  let m: GetMessage | false = false;
  for (let i = 0; i < 200 && m === false; i++) {
    m = await ch.get(queue, { noAck: true });
    if (m === false) await sleep(10);
  }
  expect(m, `${label}: publish + get`).not.toBe(false);
  expect((m as GetMessage).content.toString(), label).toBe(payload);
  await ch.close();
}

/**
 * Every test: a well-behaved amqplib connection is opened *before* the
 * misbehaving client and must still work afterwards; so must a new one.
 */
function rawCase(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    const good = await connectGood();
    await assertHealthy(good, 'pre-opened connection (before)');
    await fn();
    await assertHealthy(good, 'pre-opened connection (after)');
    await assertHealthy(await connectGood(), 'new connection (after)');
  });
}

function describeClose(r: CloseResult): string {
  if (r.kind === 'connection.close' || r.kind === 'channel.close') return `${r.kind} ${r.replyCode} ${r.replyText}`;
  return r.kind;
}

/** The server must send connection.close with `code`, then close the socket after our close-ok. */
async function expectConnectionClose(r: RawAmqp, code: number): Promise<CloseResult & { kind: 'connection.close' }> {
  const res = await r.waitForClose(5000);
  expect(res.kind, describeClose(res)).toBe('connection.close');
  const c = res as CloseResult & { kind: 'connection.close' };
  expect(c.replyCode, describeClose(res)).toBe(code);
  expect(await r.waitSocketClosed(5000), 'socket closed after connection.close/close-ok').toBe(true);
  return c;
}

// ------------------------------------------------------------------ tests

describe('raw client sanity (positive control)', () => {
  rawCase('handshake, tune values, publish in frame_max-sized pieces, get', async () => {
    const r = await raw();
    r.write(PROTOCOL_HEADER);
    const start = await r.expectMethod(M.connectionStart);
    const sr = new ArgReader(start.args);
    expect([sr.u8(), sr.u8()]).toEqual([0, 9]);
    sr.rawTable(); // server-properties
    expect(sr.longstr().toString().split(' ')).toContain('PLAIN');
    r.write(startOkFrame());
    const tune = decodeTune((await r.expectMethod(M.connectionTune)).args);
    expect(tune).toEqual({ channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    r.write(tuneOkFrame(2047, 4096, 0));
    r.write(connectionOpenFrame('/'));
    await r.expectMethod(M.connectionOpenOk);
    await r.openChannel(1);

    r.write(queueDeclareFrame(1, '', { exclusive: true }));
    const declOk = new ArgReader((await r.expectMethod(M.queueDeclareOk)).args);
    const queue = declOk.shortstr();
    expect(queue.startsWith('amq.gen-')).toBe(true);

    const body = randomBytes(10_000);
    r.write(basicPublishFrame(1, '', queue));
    r.write(contentHeaderFrame(1, body.length));
    const maxChunk = 4096 - 8;
    for (let off = 0; off < body.length; off += maxChunk) {
      r.write(contentBodyFrame(1, body.subarray(off, off + maxChunk)));
    }
    // basic.get until the message is there
    let got: Buffer | null = null;
    for (let attempt = 0; attempt < 50 && !got; attempt++) {
      r.write(basicGetFrame(1, queue, true));
      const f = await r.nextFrame(5000);
      expect(f).not.toBe(null);
      expect(f!.type).toBe(FRAME_METHOD);
      if (f!.payload.readUInt16BE(2) === M.basicGetEmpty[1]) {
        await sleep(20);
        continue;
      }
      expect(f!.payload.readUInt16BE(2)).toBe(M.basicGetOk[1]);
      const header = await r.nextFrame(5000);
      expect(header?.type).toBe(FRAME_HEADER);
      expect(header!.wireSize).toBeLessThanOrEqual(4096);
      const size = Number(header!.payload.readBigUInt64BE(4));
      expect(size).toBe(body.length);
      const parts: Buffer[] = [];
      let n = 0;
      while (n < size) {
        const bf = await r.nextFrame(5000);
        expect(bf?.type).toBe(FRAME_BODY);
        // the server must respect the frame_max we negotiated down to
        expect(bf!.wireSize).toBeLessThanOrEqual(4096);
        parts.push(bf!.payload);
        n += bf!.payload.length;
      }
      got = Buffer.concat(parts);
    }
    expect(got && got.equals(body)).toBe(true);
  });
});

describe('protocol header', () => {
  for (const [label, header] of [
    ['AMQP 0-9-2', Buffer.from('AMQP\x00\x00\x09\x02', 'latin1')],
    ['HTTP/1.1', Buffer.from('HTTP/1.1', 'latin1')],
    ['HTTP request line', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')],
  ] as const) {
    rawCase(`wrong protocol header (${label}) -> server answers AMQP 0-9-1 header and closes`, async () => {
      const r = await raw();
      r.write(header);
      expect(await r.waitSocketClosed(5000), 'socket closed by server').toBe(true);
      expect(r.received.toString('latin1')).toBe('AMQP\x00\x00\x09\x01');
      expect(r.received.equals(PROTOCOL_HEADER)).toBe(true);
    });
  }

  rawCase("AMQP 0-9's header (1 1 0 9, Perl's AnyEvent::RabbitMQ sends it) is taken as 0-9-1, as RabbitMQ takes it", async () => {
    const r = await raw();
    r.write(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'));
    await r.expectMethod(M.connectionStart);
  });
});

describe('malformed frames', () => {
  rawCase('bad frame-end byte -> 501 FRAME_ERROR', async () => {
    const r = await rawOpen();
    r.write(frame(FRAME_METHOD, 1, Buffer.concat([u16(20), u16(10), shortstr('')]), 0x00));
    await expectConnectionClose(r, 501);
  });

  rawCase('frame larger than the negotiated frame_max (4096) -> 501 FRAME_ERROR', async () => {
    const r = await rawOpen({ frameMax: 4096 });
    await r.openChannel(1);
    const body = randomBytes(10_000);
    r.write(basicPublishFrame(1, '', 'nowhere'));
    r.write(contentHeaderFrame(1, body.length));
    r.write(contentBodyFrame(1, body));
    await expectConnectionClose(r, 501);
  });

  rawCase("frame larger than the server's frame_max (131072) -> 501 FRAME_ERROR", async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    const body = randomBytes(200_000);
    r.write(basicPublishFrame(1, '', 'nowhere'));
    r.write(contentHeaderFrame(1, body.length));
    r.write(contentBodyFrame(1, body));
    await expectConnectionClose(r, 501);
  });

  rawCase('a method frame too short for its own arguments -> 501 FRAME_ERROR "cannot decode", naming the method', async () => {
    for (const args of [u16(0), Buffer.concat([u16(0), Buffer.from([10]), Buffer.from('ab')])]) {
      const r = await rawOpen();
      await r.openChannel(1);
      r.write(methodFrame(1, M.queueDeclare, args));
      const c = await expectConnectionClose(r, 501);
      expect(c.replyText).toBe(`FRAME_ERROR - cannot decode <<${[...args].join(',')}>>`);
      expect([c.classId, c.methodId]).toEqual([...M.queueDeclare]);
    }
  });

  rawCase('unknown frame type -> 501 FRAME_ERROR', async () => {
    const r = await rawOpen();
    r.write(frame(42, 0, Buffer.from([1, 2, 3, 4])));
    await expectConnectionClose(r, 501);
  });

  rawCase('random bytes after the handshake -> connection.close with an error code or socket closed, never a hang', async () => {
    const round1 = async (round: number) => {
      const r = await rawOpen();
      let junk: Buffer;
      // Make sure the junk cannot be read as a frame header announcing a
      // small payload the server would legitimately wait for.
      do junk = randomBytes(4096);
      while (junk.readUInt32BE(3) <= 1_000_000);
      r.write(junk);
      const res = await r.waitForClose(5000);
      expect(res.kind, `round ${round}: ${describeClose(res)}`).not.toBe('timeout');
      expect(res.kind).not.toBe('channel.close');
      if (res.kind === 'connection.close') {
        expect([501, 502, 503, 505], describeClose(res)).toContain(res.replyCode);
      }
      expect(await r.waitSocketClosed(5000), 'socket closed').toBe(true);
    };
    await Promise.all([0, 1, 2, 3, 4].map(round1));
  });
});

describe('basic.publish immediate=true', () => {
  rawCase('-> 540 NOT_IMPLEMENTED "immediate=true", before the exchange is even looked at', async () => {
    for (const exchange of ['amq.direct', 'no-such-exchange']) {
      const r = await rawOpen();
      await r.openChannel(1);
      r.write(methodFrame(1, M.basicPublish, u16(0), shortstr(exchange), shortstr('k'), bits(false, true)));
      r.write(contentHeaderFrame(1, 1));
      r.write(contentBodyFrame(1, Buffer.from('x')));
      const c = await expectConnectionClose(r, 540);
      expect(c.replyText).toBe('NOT_IMPLEMENTED - immediate=true');
      expect([c.classId, c.methodId]).toEqual([...M.basicPublish]);
    }
  });
});

describe('out-of-order frames', () => {
  rawCase('method frame on a channel that was never opened -> 504 CHANNEL_ERROR', async () => {
    const r = await rawOpen();
    r.write(queueDeclareFrame(5, '', { exclusive: true }));
    await expectConnectionClose(r, 504);
  });

  rawCase('second channel.open on the same channel -> 504 CHANNEL_ERROR', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(channelOpenFrame(1));
    await expectConnectionClose(r, 504);
  });

  rawCase('content header without a preceding method -> 505 UNEXPECTED_FRAME', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(contentHeaderFrame(1, 10));
    await expectConnectionClose(r, 505);
  });

  rawCase('content body without a preceding method -> 505 UNEXPECTED_FRAME', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(contentBodyFrame(1, Buffer.from('orphan body')));
    await expectConnectionClose(r, 505);
  });

  rawCase('method frame where a content header is expected -> 505 UNEXPECTED_FRAME', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(basicPublishFrame(1, '', 'nowhere'));
    r.write(basicPublishFrame(1, '', 'nowhere'));
    await expectConnectionClose(r, 505);
  });

  rawCase('heartbeat frame on a non-zero channel -> 505 UNEXPECTED_FRAME', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(heartbeatFrame(1));
    await expectConnectionClose(r, 505);
  });

  rawCase('heartbeat on channel 0 is accepted silently', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(heartbeatFrame(0));
    r.write(queueDeclareFrame(1, '', { exclusive: true }));
    await r.expectMethod(M.queueDeclareOk);
  });
});

describe('authentication and vhost (raw)', () => {
  rawCase('wrong password -> connection.close 403 ACCESS_REFUSED', async () => {
    const r = await raw();
    r.write(PROTOCOL_HEADER);
    await r.expectMethod(M.connectionStart);
    r.write(startOkFrame('guest', 'wrong'));
    const c = await expectConnectionClose(r, 403);
    expect(c.replyText).toMatch(/ACCESS_REFUSED/);
  });

  // RabbitMQ 3.10.8 (rabbit_reader's SILENT_CLOSE_DELAY): a handshake error before the login is
  // answered with no connection.close, the socket held 3 s and then closed; only a refused login
  // of a client with authentication_failure_close gets 403. php-amqplib counts on the silence: its
  // tests log in with an empty password (an empty PLAIN response) and expect a timeout.
  for (const [label, startOk] of [
    ['an unknown mechanism', methodFrame(0, M.connectionStartOk, table(defaultClientProperties), shortstr('BOGUS'), longstr('\0guest\0guest'), shortstr('en_US'))],
    ['an empty PLAIN response', methodFrame(0, M.connectionStartOk, table(defaultClientProperties), shortstr('PLAIN'), longstr(''), shortstr('en_US'))],
    // rabbit_auth_mechanism_plain takes no authorization identity: the right user and password after one are refused too.
    ['a PLAIN response with an authorization identity', methodFrame(0, M.connectionStartOk, table(defaultClientProperties), shortstr('PLAIN'), longstr('guest\0guest\0guest'), shortstr('en_US'))],
    ['a wrong password from a client without authentication_failure_close', startOkFrame('guest', 'wrong', { ...defaultClientProperties, capabilities: {} })],
  ] as const) {
    rawCase(`${label} -> no connection.close, the socket closed after 3 s`, async () => {
      const r = await raw();
      r.write(PROTOCOL_HEADER);
      await r.expectMethod(M.connectionStart);
      const t0 = performance.now();
      r.write(startOk);
      expect(await r.nextFrame(2500)).toBeNull();
      expect(r.closed).toBe(false);
      expect(await r.waitSocketClosed(2000)).toBe(true);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(2900);
    });
  }

  rawCase('a wrong password from a client with authentication_failure_close -> connection.close 403 at once', async () => {
    await sleep(1100); // the address's earlier refusals behind it (login-gate.ts)
    const r = await raw();
    r.write(PROTOCOL_HEADER);
    await r.expectMethod(M.connectionStart);
    const t0 = performance.now();
    r.write(startOkFrame('guest', 'wrong'));
    const c = await expectConnectionClose(r, 403);
    expect(c.replyText).toBe('ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  rawCase('unknown vhost -> connection.close 530 NOT_ALLOWED', async () => {
    const r = await raw();
    r.write(PROTOCOL_HEADER);
    await r.expectMethod(M.connectionStart);
    r.write(startOkFrame());
    const tune = decodeTune((await r.expectMethod(M.connectionTune)).args);
    r.write(tuneOkFrame(tune.channelMax, tune.frameMax, 0));
    r.write(methodFrame(0, M.connectionOpen, shortstr('no-such-vhost'), shortstr(''), bits(false)));
    const c = await expectConnectionClose(r, 530);
    expect(c.replyText).toMatch(/NOT_ALLOWED/);
    expect(c.replyText).toContain('no-such-vhost');
  });
});

describe('vanishing clients', () => {
  rawCase('half a frame, then the socket is destroyed: broker keeps serving', async () => {
    // during the protocol header
    const a = await raw();
    a.write(PROTOCOL_HEADER.subarray(0, 3));
    await sleep(20);
    a.destroy();

    // during the handshake: half a start-ok
    const b = await raw();
    b.write(PROTOCOL_HEADER);
    await b.expectMethod(M.connectionStart);
    const so = startOkFrame();
    b.write(so.subarray(0, Math.floor(so.length / 2)));
    await sleep(20);
    b.destroy();

    // after the handshake: half a method frame, and half a message
    const c = await rawOpen();
    await c.openChannel(1);
    const decl = queueDeclareFrame(1, 'half-frame-q');
    c.write(decl.subarray(0, 5));
    await sleep(20);
    c.destroy();

    const d = await rawOpen();
    await d.openChannel(1);
    d.write(basicPublishFrame(1, '', 'half-message-q'));
    d.write(contentHeaderFrame(1, 1000));
    d.write(contentBodyFrame(1, randomBytes(1000)).subarray(0, 300));
    await sleep(20);
    d.destroy();

    await sleep(100);
  });
});

describe('connection.close initiated by the client', () => {
  rawCase('close with reply-code 200 gets close-ok', async () => {
    const r = await rawOpen();
    await r.openChannel(1);
    r.write(methodFrame(0, M.connectionClose, u16(200), shortstr('bye'), u16(0), u16(0)));
    await r.expectMethod(M.connectionCloseOk);
    // (RabbitMQ leaves closing the socket to the client after close-ok.)
    r.socket.end();
    expect(await r.waitSocketClosed(5000)).toBe(true);
  });
});
