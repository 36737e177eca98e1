// Definitions files: Warren's export always imports again into an empty broker and exports the
// same; a real RabbitMQ 3.10.8 export imports; a file with problems is refused whole, naming every
// problem, through the API, `warren ctl import_definitions` and `--load-definitions` at boot alike.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, enc, freePort, runCtl, type Api } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/rabbitmq-3.10.8-definitions.json', import.meta.url));
const res = resources();
const brokers: RunningBroker[] = [];

afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function fresh(): Promise<{ broker: RunningBroker; api: Api; url: string }> {
  const broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  brokers.push(broker);
  const url = `http://127.0.0.1:${broker.managementPort}`;
  return { broker, api: apiClient(url), url };
}

type Defs = Record<string, unknown[]>;
/** An export with its lists in a stable order, to compare two exports. */
function sorted(d: Defs): Defs {
  const out: Defs = {};
  for (const [k, v] of Object.entries(d)) out[k] = Array.isArray(v) ? [...v].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : v;
  return out;
}

async function exported(api: Api): Promise<Defs> {
  const r = await api('GET', '/api/definitions');
  expect(r.status, r.text).toBe(200);
  return r.json as Defs;
}

/** A file with one problem of each kind, and objects that must not be created when it is refused. */
const BAD_FILE = {
  rabbit_version: '3.10.8',
  vhosts: [{ name: 'bad-vh' }],
  users: [{ name: 'bad-user', password_hash: 'x', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [], limits: {} }],
  permissions: [
    { user: 'nobody', vhost: 'bad-vh', configure: '.*', write: '.*', read: '.*' },
    // Without its patterns: once taken as empty patterns, which grant everything.
    { user: 'bad-user', vhost: 'bad-vh' },
  ],
  queues: [
    { name: 'bad-ok-q', vhost: 'bad-vh', durable: true, auto_delete: false, arguments: {} },
    { name: 'bad-quorum', vhost: 'bad-vh', durable: false, auto_delete: false, arguments: { 'x-queue-type': 'quorum' } },
    { name: 'bad-stream', vhost: 'bad-vh', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'stream', 'x-max-age': '7X' } },
  ],
  exchanges: [{ name: 'bad-x', vhost: 'bad-vh', type: 'x-jms-topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
  bindings: [{ source: 'amq.direct', vhost: 'bad-vh', destination: 'missing-q', destination_type: 'queue', routing_key: '', arguments: {} }],
  // RabbitMQ 3.10.8 answers PUT /api/policies with this definition "-1 is not a valid message TTL".
  policies: [{ vhost: 'bad-vh', name: 'ttl', pattern: '.*', 'apply-to': 'queues', definition: { 'message-ttl': -1 }, priority: 0 }],
  parameters: [
    { vhost: 'bad-vh', component: 'shovel', name: 'sh', value: {} },
    { vhost: 'bad-vh', component: 'federation-upstream', name: 'up', value: {} },
    { vhost: 'bad-vh', component: 'no-such-plugin', name: 'np', value: {} },
  ],
  global_parameters: [{ name: 'cluster_name', value: 'c' }, { name: 'some_global', value: 1 }],
  topic_permissions: [
    { user: 'nobody', vhost: 'bad-vh', exchange: 'amq.topic', write: '.*', read: '.*' },
    { user: 'bad-user', vhost: 'bad-vh', exchange: 'amq.topic', write: '(', read: '.*' },
  ],
  federation_upstreams: [],
};
const BAD_PROBLEMS = [
  "permission of user 'nobody' in vhost 'bad-vh': user 'nobody' does not exist",
  "permission of user 'bad-user' in vhost 'bad-vh': [{key_missing,configure},{key_missing,write},{key_missing,read}]",
  "invalid property 'non-durable' for queue 'bad-quorum' in vhost 'bad-vh'",
  "invalid arg 'x-max-age' for queue 'bad-stream' in vhost 'bad-vh': invalid_max_age",
  "exchange 'bad-x' in vhost 'bad-vh': unknown type 'x-jms-topic'",
  "queue 'missing-q' does not exist",
  "policy 'ttl' in vhost 'bad-vh': -1 is not a valid message TTL",
  // A shovel or an upstream is checked as a PUT of its parameter checks it (shovel.test.ts, federation.test.ts).
  "shovel 'sh' in vhost 'bad-vh': Must specify 'src-exchange' or 'src-queue'",
  "federation-upstream 'up' in vhost 'bad-vh': Key",
  "runtime parameters of a component Warren does not have are not supported: parameter 'np' in vhost 'bad-vh'",
  "topic permission of user 'nobody' in vhost 'bad-vh' on exchange 'amq.topic': user 'nobody' does not exist",
  "topic permission of user 'bad-user' in vhost 'bad-vh' on exchange 'amq.topic': invalid regular expression '(' for write",
  "unknown key 'federation_upstreams'",
];

async function expectNothingOf(api: Api): Promise<void> {
  expect((await api('GET', '/api/vhosts/bad-vh')).status).toBe(404);
  expect((await api('GET', '/api/users/bad-user')).status).toBe(404);
}

describe('export and import round trip', () => {
  it("an export (transient and durable objects, an exclusive queue's binding) imports into an empty broker and exports the same", async () => {
    const a = await fresh();
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${a.broker.port}`);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('rt-durable-x', 'topic', { durable: true });
      await ch.assertExchange('rt-transient-x', 'fanout', { durable: false });
      await ch.assertQueue('rt-durable-q', { durable: true, arguments: { 'x-max-length': 7, 'x-message-ttl': 5000 } });
      await ch.assertQueue('rt-transient-q', { durable: false });
      await ch.assertQueue('rt-auto-delete-q', { durable: false, autoDelete: true });
      const excl = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue('rt-durable-q', 'rt-durable-x', 'a.#');
      await ch.bindQueue('rt-transient-q', 'rt-durable-x', 'b.#');
      await ch.bindQueue('rt-auto-delete-q', 'rt-transient-x', '');
      await ch.bindQueue(excl.queue, 'rt-durable-x', 'c.#');
      await ch.bindExchange('rt-transient-x', 'rt-durable-x', 'd.#');
      expect((await a.api('PUT', '/api/vhosts/rt-vh', { body: { description: 'round trip' } })).status).toBe(201);
      expect((await a.api('PUT', '/api/users/rt-user', { body: { password: 'rt-pass', tags: 'management' } })).status).toBe(201);
      expect((await a.api('PUT', '/api/permissions/rt-vh/rt-user', { body: { configure: '^rt-', write: '.*', read: '' } })).status).toBe(201);
      expect((await a.api('PUT', '/api/topic-permissions/rt-vh/rt-user', { body: { exchange: 'amq.topic', write: '^{username}\\.', read: '.*' } })).status).toBe(201);

      const first = await exported(a.api);
      expect(JSON.stringify(first)).not.toContain(excl.queue);
      expect(first.topic_permissions).toEqual([{ user: 'rt-user', vhost: 'rt-vh', exchange: 'amq.topic', write: '^{username}\\.', read: '.*' }]);
      expect(first.queues).toContainEqual({ name: 'rt-transient-q', vhost: '/', durable: false, auto_delete: false, arguments: {} });

      const b = await fresh();
      const imp = await b.api('POST', '/api/definitions', { body: first });
      expect(imp.status, imp.text).toBe(204);
      expect(sorted(await exported(b.api))).toEqual(sorted(first));

      // What was imported works: a publish through the durable exchange reaches both queues.
      const conn2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.broker.port}`);
      try {
        const ch2 = await conn2.createChannel();
        ch2.publish('rt-durable-x', 'a.1', Buffer.from('to durable'));
        ch2.publish('rt-durable-x', 'd.1', Buffer.from('to auto-delete'));
        await ch2.checkQueue('rt-durable-q');
        const expectOne = async (q: string, body: string): Promise<void> => {
          for (let i = 0; i < 100; i++) {
            const m = await ch2.get(q, { noAck: true });
            if (m) return void expect(m.content.toString()).toBe(body);
            await new Promise((r) => setTimeout(r, 10));
          }
          throw new Error(`nothing arrived in ${q}`);
        };
        await expectOne('rt-durable-q', 'to durable');
        await expectOne('rt-auto-delete-q', 'to auto-delete');
      } finally {
        await conn2.close();
      }
    } finally {
      await conn.close();
    }
  });

  it('a real RabbitMQ 3.10.8 export (empty policies, parameters, topic_permissions; cluster_name) imports, users log in with their hashes', async () => {
    const file = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Defs;
    expect(file.policies).toEqual([]);
    expect(file.global_parameters).toContainEqual(expect.objectContaining({ name: 'cluster_name' }));
    const { broker, api } = await fresh();
    const imp = await api('POST', '/api/definitions', { body: file });
    expect(imp.status, imp.text).toBe(204);
    expect((await api('GET', '/api/queues/v1/args-q')).json).toMatchObject({
      durable: true,
      arguments: { 'x-max-length': 100, 'x-message-ttl': 60000, 'x-dead-letter-exchange': 'dx', 'x-overflow': 'reject-publish' },
    });
    expect((await api('GET', '/api/queues/v1/tq')).json).toMatchObject({ durable: false });
    // 'adm' was made with rabbitmqctl add_user adm pw: RabbitMQ's hash works here.
    const conn = await amqp.connect(`amqp://adm:pw@127.0.0.1:${broker.port}/v1`);
    try {
      const ch = await conn.createChannel();
      ch.publish('hx', '', Buffer.from('by header'), { headers: { kind: 'a' } });
      await ch.checkQueue('args-q');
      let got: amqp.GetMessage | false = false;
      for (let i = 0; i < 100 && !got; i++) {
        got = await ch.get('args-q', { noAck: true });
        if (!got) await new Promise((r) => setTimeout(r, 10));
      }
      expect(got && got.content.toString()).toBe('by header');
    } finally {
      await conn.close();
    }
  });
});

describe('a file with problems is refused whole', () => {
  it('POST /api/definitions: 400 listing every problem, nothing applied', async () => {
    const { api } = await fresh();
    const r = await api('POST', '/api/definitions', { body: BAD_FILE });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error).toBe('bad_request');
    const problems = r.json.problems as string[];
    expect(Array.isArray(problems)).toBe(true);
    for (const p of BAD_PROBLEMS) expect(problems.join('\n'), p).toContain(p);
    for (const p of problems) expect(r.json.reason).toContain(p);
    await expectNothingOf(api);
  });

  it('an object that exists with other properties is a problem, not a silent skip', async () => {
    const { api } = await fresh();
    expect((await api('PUT', '/api/queues/%2F/exists-q', { body: { durable: true } })).status).toBe(201);
    const r = await api('POST', '/api/definitions', {
      body: { vhosts: [{ name: 'bad-vh' }], queues: [{ name: 'exists-q', vhost: '/', durable: false, auto_delete: false, arguments: {} }] },
    });
    expect(r.status).toBe(400);
    expect(r.json.problems).toEqual(["inequivalent arg 'durable' for queue 'exists-q' in vhost '/': received 'false' but current is 'true'"]);
    await expectNothingOf(api);
  });

  it('warren ctl import_definitions prints the problems on stderr, exits 69 and applies nothing', async () => {
    const { api, url } = await fresh();
    const file = path.join(await res.tempDir(), 'bad.json');
    writeFileSync(file, JSON.stringify(BAD_FILE));
    const out = await runCtl(url, ['import_definitions', file]);
    // rabbitmqctl 3.10.8's code for a file the broker refuses (EX_UNAVAILABLE).
    expect(out.code, out.stdout + out.stderr).toBe(69);
    for (const p of BAD_PROBLEMS) expect(out.stderr, p).toContain(p);
    await expectNothingOf(api);
  });

  it('--load-definitions with a bad file stops the boot with the problems; a RabbitMQ export boots', async () => {
    const dir = await res.tempDir();
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(BAD_FILE));
    const failed = res.broker(path.join(dir, 'data-bad'), ['--load-definitions', bad]);
    await expect(failed).rejects.toThrow(/broker exited before listening \(code=1/);
    const message = String(await failed.catch((e: Error) => e.message));
    expect(message).toContain(`cannot load definitions from ${bad}`);
    for (const p of BAD_PROBLEMS) expect(message, p).toContain(p);

    // Nothing of it reached the store: the same data directory boots without any of it.
    const port = await freePort();
    const after = await res.broker(path.join(dir, 'data-bad'), ['--management-port', String(port)]);
    await expectNothingOf(apiClient(`http://127.0.0.1:${port}`));
    await after.stop();

    const good = await res.broker(path.join(dir, 'data-good'), ['--load-definitions', FIXTURE]);
    const c2 = await amqp.connect(`amqp://adm:pw@127.0.0.1:${good.port}/${enc('v1')}`);
    const ch2 = await c2.createChannel();
    expect((await ch2.checkQueue('args-q')).queue).toBe('args-q');
    await c2.close();
  });
});
