// Conformance tests: error reply codes (and the meaning of the reply
// texts) as RabbitMQ 3.x produces them, observed through amqplib.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { brokerUnderTest, type BrokerUnderTest } from '../helpers/broker-under-test.js';
import { sleep, withTimeout } from '../helpers/async.js';

type AmqpError = Error & { code?: number; classId?: number; methodId?: number };

let broker: BrokerUnderTest;
const openConns: ChannelModel[] = [];
/** A separate connection, opened before each error is provoked. */
let observer: ChannelModel;

beforeAll(async () => {
  broker = await brokerUnderTest(); // Warren in-process, or the broker at AMQP_URL
});

afterAll(async () => {
  await broker?.close();
});

beforeEach(async () => {
  observer = await connect();
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

// ---------------------------------------------------------------- helpers


function url(user = 'guest', pass = 'guest'): string {
  return broker.url(user, pass);
}

async function connect(): Promise<ChannelModel> {
  const conn = await amqp.connect(url());
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

function qname(prefix = 'q'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Publish + get round trip on a fresh channel of `conn`. */
async function assertConnWorks(conn: ChannelModel, label: string): Promise<void> {
  const ch = await withTimeout(conn.createChannel(), 5000, `${label}: createChannel`);
  ch.on('error', () => undefined);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const payload = `alive ${randomUUID()}`;
  ch.sendToQueue(queue, Buffer.from(payload));
  let m: GetMessage | false = false;
  for (let i = 0; i < 200 && m === false; i++) {
    m = await ch.get(queue, { noAck: true });
    if (m === false) await sleep(10);
  }
  expect(m, `${label}: message round trip`).not.toBe(false);
  expect((m as GetMessage).content.toString()).toBe(payload);
  await ch.deleteQueue(queue);
  await ch.close();
}

/**
 * Open a channel on `conn`, run `action`, and expect the server to close
 * the channel with `code`. Returns the error emitted on the channel.
 * Afterwards checks that `conn` can open a new, working channel and that
 * the separate observer connection still works.
 */
async function expectChannelError(
  conn: ChannelModel,
  code: number,
  action: (ch: Channel) => unknown,
  text?: RegExp,
): Promise<AmqpError> {
  const ch = await conn.createChannel();
  const errors: AmqpError[] = [];
  const errP = new Promise<AmqpError>((resolve) =>
    ch.on('error', (e: AmqpError) => {
      errors.push(e);
      resolve(e);
    }),
  );
  const closed = new Promise<void>((r) => ch.once('close', () => r()));
  let actionErr: AmqpError | undefined;
  try {
    await action(ch);
  } catch (e) {
    actionErr = e as AmqpError;
  }
  const err = await withTimeout(errP, 5000, `channel error ${code}`);
  expect(err.code, err.message).toBe(code);
  if (text) expect(err.message).toMatch(text);
  if (actionErr?.code !== undefined) expect(actionErr.code).toBe(code);
  await withTimeout(closed, 5000, 'channel close after error');
  expect(errors.length).toBe(1);

  await assertConnWorks(conn, 'same connection after channel error');
  await assertConnWorks(observer, 'observer connection after channel error');
  return err;
}

/** Connection must be closed by the server with `code`. */
async function expectConnectionError(
  conn: ChannelModel,
  code: number,
  action: () => unknown,
  text?: RegExp,
): Promise<AmqpError> {
  const errP = new Promise<AmqpError>((resolve) => conn.on('error', (e: AmqpError) => resolve(e)));
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  try {
    await action();
  } catch {
    // pending RPCs are rejected when the connection goes away
  }
  const err = await withTimeout(errP, 5000, `connection error ${code}`);
  expect(err.code, err.message).toBe(code);
  if (text) expect(err.message).toMatch(text);
  await withTimeout(closed, 5000, 'connection close after error');
  await assertConnWorks(observer, 'observer connection after connection error');
  await assertConnWorks(await connect(), 'fresh connection after connection error');
  return err;
}

// ------------------------------------------------------------------ tests

describe('channel errors', () => {
  it('passive declare of a missing queue -> 404 NOT_FOUND', async () => {
    const conn = await connect();
    const q = qname('missing');
    const err = await expectChannelError(conn, 404, (ch) => ch.checkQueue(q), /NOT_FOUND/);
    expect(err.message).toContain(q);
    expect(err.message).toMatch(/no queue/i);
  });

  it('redeclare with a different durable flag -> 406 PRECONDITION_FAILED', async () => {
    const conn = await connect();
    const q = qname('durable');
    const ch = await conn.createChannel();
    await ch.assertQueue(q, { durable: false });
    const err = await expectChannelError(conn, 406, (c) => c.assertQueue(q, { durable: true }), /PRECONDITION_FAILED/);
    expect(err.message).toMatch(/inequivalent arg '?durable'?/i);
    expect(err.message).toContain(q);
    // the original queue is untouched
    expect(await ch.checkQueue(q)).toMatchObject({ queue: q });
    // and the other direction
    const q2 = qname('durable2');
    await ch.assertQueue(q2, { durable: true });
    await expectChannelError(conn, 406, (c) => c.assertQueue(q2, { durable: false }), /inequivalent arg/i);
    await ch.deleteQueue(q);
    await ch.deleteQueue(q2);
  });

  it('a consumer beside an exclusive one, or an exclusive one beside another -> 403 ACCESS_REFUSED (basic.consume)', async () => {
    const conn = await connect();
    const ch = await conn.createChannel();
    const q = qname('excl');
    await ch.assertQueue(q, { durable: false });
    const { consumerTag } = await ch.consume(q, () => undefined, { exclusive: true });
    // RabbitMQ 3.10.8's text, class 60 method 20, for either order.
    const text = new RegExp(`^Channel closed by server: 403 \\(ACCESS-REFUSED\\) with message "ACCESS_REFUSED - queue '${q}' in vhost '/' in exclusive use"$`);
    let err = await expectChannelError(await connect(), 403, (c) => c.consume(q, () => undefined), text);
    expect([err.classId, err.methodId]).toEqual([60, 20]);
    await ch.cancel(consumerTag);
    await ch.consume(q, () => undefined);
    err = await expectChannelError(await connect(), 403, (c) => c.consume(q, () => undefined, { exclusive: true }), text);
    expect([err.classId, err.methodId]).toEqual([60, 20]);
    await ch.deleteQueue(q);
  });

  it("declaring a queue named 'amq.*' -> 403 ACCESS_REFUSED", async () => {
    const conn = await connect();
    const q = `amq.${randomUUID()}`;
    const err = await expectChannelError(conn, 403, (ch) => ch.assertQueue(q), /ACCESS_REFUSED/);
    expect(err.message).toMatch(/reserved/i);
    expect(err.message).toContain(q);
    // nothing was created
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const e2 = await ch.checkQueue(q).then(
      () => null,
      (e: AmqpError) => e,
    );
    expect(e2?.code).toBe(404);
  });

  describe('exclusive queue used from another connection -> 405 RESOURCE_LOCKED', () => {
    let owner: ChannelModel;
    let q: string;
    let ownerCh: Channel;

    beforeEach(async () => {
      owner = await connect();
      ownerCh = await owner.createChannel();
      q = qname('locked');
      await ownerCh.assertQueue(q, { exclusive: true });
      ownerCh.sendToQueue(q, Buffer.from('owned'));
      await sleep(20);
    });

    afterEach(async () => {
      // The owner's queue and message survived the intruder.
      const ok = await ownerCh.checkQueue(q);
      expect(ok.messageCount).toBe(1);
    });

    const cases: [string, (ch: Channel, q: string) => unknown][] = [
      ['exclusive declare', (ch, q) => ch.assertQueue(q, { exclusive: true })],
      ['non-exclusive declare', (ch, q) => ch.assertQueue(q, { exclusive: false })],
      ['passive declare', (ch, q) => ch.checkQueue(q)],
      ['consume', (ch, q) => ch.consume(q, () => undefined)],
      ['get', (ch, q) => ch.get(q)],
      ['purge', (ch, q) => ch.purgeQueue(q)],
      ['delete', (ch, q) => ch.deleteQueue(q)],
    ];
    for (const [name, op] of cases) {
      it(name, async () => {
        const intruder = await connect();
        const err = await expectChannelError(intruder, 405, (ch) => op(ch, q), /RESOURCE_LOCKED/);
        expect(err.message).toMatch(/exclusive|locked/i);
        expect(err.message).toContain(q);
      });
    }
  });

  it('ack of an unknown delivery tag -> 406 PRECONDITION_FAILED', async () => {
    const conn = await connect();
    const err = await expectChannelError(
      conn,
      406,
      (ch) => ch.ack({ fields: { deliveryTag: 999 } } as unknown as GetMessage),
      /PRECONDITION_FAILED/,
    );
    expect(err.message).toMatch(/unknown delivery tag 999/i);
  });

  it('double ack -> 406 PRECONDITION_FAILED', async () => {
    const conn = await connect();
    const setup = await conn.createChannel();
    const q = qname('dblack');
    await setup.assertQueue(q);
    setup.sendToQueue(q, Buffer.from('x'));
    await sleep(20);
    const err = await expectChannelError(
      conn,
      406,
      async (ch) => {
        const m = await ch.get(q, { noAck: false });
        expect(m).not.toBe(false);
        ch.ack(m as GetMessage);
        ch.ack(m as GetMessage);
      },
      /PRECONDITION_FAILED/,
    );
    expect(err.message).toMatch(/unknown delivery tag 1\b/i);
    // the first ack counted: the message is gone, not requeued by the channel close
    expect((await setup.checkQueue(q)).messageCount).toBe(0);
    await setup.deleteQueue(q);
  });

  it('ack on a channel whose message was consumed with no-ack -> 406', async () => {
    const conn = await connect();
    const setup = await conn.createChannel();
    const q = qname('noack');
    await setup.assertQueue(q, { exclusive: true });
    setup.sendToQueue(q, Buffer.from('x'));
    await sleep(20);
    await expectChannelError(
      conn,
      406,
      async (ch) => {
        const m = await ch.get(q, { noAck: true });
        expect(m).not.toBe(false);
        ch.ack(m as GetMessage);
      },
      /unknown delivery tag/i,
    );
  });

  it('publishing to a non-existent exchange -> 404 NOT_FOUND', async () => {
    const conn = await connect();
    const ex = `no-such-exchange-${randomUUID()}`;
    const err = await expectChannelError(conn, 404, (ch) => ch.publish(ex, 'rk', Buffer.from('x')), /NOT_FOUND/);
    expect(err.message).toMatch(/no exchange/i);
    expect(err.message).toContain(ex);
  });

  it("a user_id other than the publisher's -> 406 PRECONDITION_FAILED (RabbitMQ's validated user id)", async () => {
    const conn = await connect();
    const q = qname('uid');
    const ch = await conn.createChannel();
    await ch.assertQueue(q, { exclusive: false, autoDelete: false });
    // Its own name is taken.
    ch.sendToQueue(q, Buffer.from('mine'), { userId: 'guest' });
    await ch.close();
    const err = await expectChannelError(conn, 406, (c) => c.sendToQueue(q, Buffer.from('x'), { userId: 'someone' }), /PRECONDITION_FAILED/);
    expect(err.message).toContain("PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user was 'guest'");
    const check = await conn.createChannel();
    expect((await check.checkQueue(q)).messageCount).toBe(1);
    await check.deleteQueue(q);
  });

  it('several channel errors in a row leave the connection usable', async () => {
    const conn = await connect();
    for (let i = 0; i < 5; i++) {
      await expectChannelError(conn, 404, (ch) => ch.checkQueue(qname('missing')));
    }
  });
});

describe('connection errors', () => {
  it('duplicate consumer tag on one channel -> 530 NOT_ALLOWED connection close', async () => {
    const conn = await connect();
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const q = qname('dup');
    await ch.assertQueue(q, { exclusive: true });
    await ch.consume(q, () => undefined, { consumerTag: 'dup-tag' });
    const err = await expectConnectionError(
      conn,
      530,
      () => ch.consume(q, () => undefined, { consumerTag: 'dup-tag' }),
      /NOT_ALLOWED/,
    );
    expect(err.message).toMatch(/consumer tag/i);
    expect(err.message).toContain('dup-tag');
  });

  it("an exchange type the broker does not have -> 503 COMMAND_INVALID - unknown exchange type", async () => {
    // RabbitMQ 3.10.8's text for a plugin's type without the plugin, and for a typo.
    for (const [type, text] of [
      ['topics', /COMMAND_INVALID - unknown exchange type 'topics'/],
      ['x-no-such-plugin', /COMMAND_INVALID - unknown exchange type 'x-no-such-plugin'/],
    ] as const) {
      const conn = await connect();
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await expectConnectionError(conn, 503, () => ch.assertExchange(qname('xt'), type), text);
    }
  });

  it('wrong password -> 403 ACCESS_REFUSED on connect', async () => {
    const err = (await amqp.connect(url('guest', 'not-the-password')).then(
      (c) => {
        c.on('error', () => undefined);
        openConns.push(c);
        return null;
      },
      (e: Error) => e,
    )) as AmqpError | null;
    expect(err, 'connect must be rejected').not.toBe(null);
    expect(err!.message).toMatch(/403/);
    expect(err!.message).toMatch(/ACCESS.REFUSED/);
    await assertConnWorks(observer, 'observer after failed login');
    await assertConnWorks(await connect(), 'fresh connection after failed login');
  });

  it('unknown user -> 403 ACCESS_REFUSED on connect', async () => {
    const err = (await amqp.connect(url('nobody', 'guest')).then(
      (c) => {
        c.on('error', () => undefined);
        openConns.push(c);
        return null;
      },
      (e: Error) => e,
    )) as AmqpError | null;
    expect(err, 'connect must be rejected').not.toBe(null);
    expect(err!.message).toMatch(/403/);
    expect(err!.message).toMatch(/ACCESS.REFUSED/);
    await assertConnWorks(observer, 'observer after failed login');
  });
});
