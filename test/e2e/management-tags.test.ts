// What each RabbitMQ user tag may see and do through the management API, endpoint by endpoint,
// with the status codes and bodies RabbitMQ 3.10.8 answers (checked against a real node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, enc, eventually, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
const conns: ChannelModel[] = [];

const IN = 'tags-in'; // every tagged user has full permissions here
const OUT = 'tags-out'; // only guest (administrator) has permissions here
const NOPERM = 'tags-noperm'; // nobody has permissions here, not even guest
const PW = 'pw';
const TAGGED = ['mon', 'mgmt', 'pm'] as const;
type Tagged = (typeof TAGGED)[number];
const TAGS: Record<Tagged | 'none' | 'lim', string> = { mon: 'monitoring', mgmt: 'management', pm: 'policymaker', none: '', lim: 'management' };

const NOT_ADMIN = { error: 'not_authorised', reason: 'Not administrator user' };
const NO_VHOST = { error: 'not_authorised', reason: 'User not authorised to access virtual host' };
const REFUSED = { error: 'not_authorised', reason: 'Access refused.' };
const NOT_OBJECT = { error: 'not_authorised', reason: 'User not authorised to access object' };
const GET_BODY = { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' };
const publishBody = (rk: string) => ({ routing_key: rk, payload: 'p', payload_encoding: 'string', properties: {} });

async function ok(method: string, path: string, body?: unknown): Promise<void> {
  const r = await api(method, path, body === undefined ? {} : { body });
  expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
}

const as = (user: string) => ({ auth: [user, user === 'guest' ? 'guest' : PW] as [string, string] });

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
  for (const v of [IN, OUT, NOPERM]) await ok('PUT', `/api/vhosts/${v}`);
  // Creating a vhost through the API gave guest permissions there (as RabbitMQ does): take them back.
  await api('DELETE', `/api/permissions/${NOPERM}/guest`);
  for (const [u, tags] of Object.entries(TAGS)) await ok('PUT', `/api/users/${u}`, { password: PW, tags });
  for (const u of [...TAGGED, 'none']) await ok('PUT', `/api/permissions/${IN}/${u}`, { configure: '.*', write: '.*', read: '.*' });
  await ok('PUT', `/api/permissions/${IN}/lim`, { configure: '^c-', write: '^w-', read: '^r-' });
  for (const v of [IN, OUT]) {
    await ok('PUT', `/api/queues/${v}/q`, { durable: true });
    await ok('PUT', `/api/exchanges/${v}/x`, { type: 'direct', durable: true });
    await ok('POST', `/api/bindings/${v}/e/x/q/q`, { routing_key: 'k' });
    await ok('POST', `/api/exchanges/${v}/amq.default/publish`, publishBody('q'));
  }
  for (const n of ['c-q', 'r-q', 'w-q']) await ok('PUT', `/api/queues/${IN}/${n}`, { durable: true });
  for (const n of ['r-x', 'w-x']) await ok('PUT', `/api/exchanges/${IN}/${n}`, { type: 'fanout', durable: true });
});

afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await broker?.close();
});

async function connect(user: string, vhost: string): Promise<ChannelModel> {
  const c = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: user, password: user === 'guest' ? 'guest' : PW, vhost });
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

const names = (json: unknown, key: 'vhost' | 'name' = 'vhost'): string[] => [...new Set((json as Record<string, string>[]).map((x) => x[key]!))].sort();

describe('who may log in', () => {
  it('a user without a management tag gets 401 "Not management user" everywhere', async () => {
    for (const path of ['/api/overview', '/api/queues', `/api/queues/${IN}/q`, '/api/whoami', '/api/users']) {
      const r = await api('GET', path, as('none'));
      expect(r.status, path).toBe(401);
      expect(r.json, path).toEqual({ error: 'not_authorised', reason: 'Not management user' });
    }
    const put = await api('PUT', `/api/queues/${IN}/none-q`, { ...as('none'), body: { durable: true } });
    expect(put.status).toBe(401);
  });

  it('wrong credentials get 401 "Login failed" with a Basic challenge', async () => {
    const r = await api('GET', '/api/overview', { auth: ['mon', 'wrong'] });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ error: 'not_authorized', reason: 'Login failed' });
    expect(r.headers.get('www-authenticate') ?? '').toMatch(/^Basic /);
  });

  it('whoami names the user and its tags', async () => {
    for (const u of TAGGED) expect((await api('GET', '/api/whoami', as(u))).json).toEqual({ name: u, tags: [TAGS[u]] });
  });
});

describe('administrator-only endpoints', () => {
  const reads = ['/api/users', '/api/users/guest', '/api/users/mon', '/api/permissions', `/api/vhosts/${IN}/permissions`, '/api/users/mgmt/permissions', `/api/permissions/${IN}/mgmt`, '/api/definitions', `/api/vhosts/${IN}`];
  const writes: [string, string, unknown][] = [
    ['PUT', '/api/vhosts/tags-new', {}],
    ['DELETE', `/api/vhosts/${OUT}`, undefined],
    ['PUT', '/api/users/tags-new-user', { password: 'x', tags: 'administrator' }],
    ['DELETE', '/api/users/guest', undefined],
    ['PUT', `/api/permissions/${OUT}/mgmt`, { configure: '.*', write: '.*', read: '.*' }],
    ['DELETE', `/api/permissions/${IN}/mgmt`, undefined],
    ['POST', '/api/definitions', { vhosts: [{ name: 'tags-imported' }] }],
  ];
  for (const u of TAGGED) {
    it(`${TAGS[u]}: 401 "Not administrator user" for users, permissions, definitions and vhost changes`, async () => {
      for (const path of reads) {
        const r = await api('GET', path, as(u));
        expect(r.status, path).toBe(401);
        expect(r.json, path).toEqual(NOT_ADMIN);
        expect(r.text, path).not.toContain('password_hash');
      }
      for (const [method, path, body] of writes) {
        const r = await api(method, path, body === undefined ? as(u) : { ...as(u), body });
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(r.json, `${method} ${path}`).toEqual(NOT_ADMIN);
      }
      // Nothing changed.
      expect((await api('GET', '/api/vhosts/tags-new')).status).toBe(404);
      expect((await api('GET', '/api/vhosts/tags-imported')).status).toBe(404);
      expect((await api('GET', '/api/users/tags-new-user')).status).toBe(404);
      expect((await api('GET', `/api/permissions/${IN}/mgmt`)).status).toBe(200);
    });
  }

  it('administrator reads users with their password hashes, and definitions', async () => {
    const users = await api('GET', '/api/users');
    expect(users.status).toBe(200);
    expect((users.json as { password_hash: string }[]).every((x) => typeof x.password_hash === 'string')).toBe(true);
    expect((await api('GET', '/api/definitions')).status).toBe(200);
  });
});

describe('what lists show', () => {
  it('queues, exchanges and bindings: administrator every vhost, the other tags only vhosts they have permissions for', async () => {
    for (const u of ['guest', ...TAGGED]) {
      const expected = u === 'guest' ? ['/', IN, OUT] : [IN];
      for (const path of ['/api/queues', '/api/exchanges', '/api/bindings']) {
        const r = await api('GET', path, as(u));
        expect(r.status, `${u} ${path}`).toBe(200);
        // '/' has exchanges (amq.*) but no queues or bindings of this test's.
        expect(names(r.json).filter((v) => v !== NOPERM), `${u} ${path}`).toEqual(expected.filter((v) => path === '/api/exchanges' || v !== '/'));
      }
    }
  });

  it('vhosts: administrator and monitoring see all, management and policymaker only theirs', async () => {
    for (const u of ['guest', 'mon']) expect(names((await api('GET', '/api/vhosts', as(u))).json, 'name')).toEqual(['/', IN, NOPERM, OUT]);
    for (const u of ['mgmt', 'pm']) expect(names((await api('GET', '/api/vhosts', as(u))).json, 'name')).toEqual([IN]);
  });

  it('overview: monitoring gets global totals, management only those of its vhosts', async () => {
    const total = (await api('GET', '/api/overview')).json.object_totals;
    expect((await api('GET', '/api/overview', as('mon'))).json.object_totals.queues).toBe(total.queues);
    const mine = (await api('GET', '/api/overview', as('mgmt'))).json;
    expect(mine.object_totals.queues).toBe(4);
    expect(mine.object_totals.exchanges).toBe(broker.broker.vhosts.get(IN)!.exchanges.size);
  });
});

describe('one object in a vhost without permissions', () => {
  const paths = [`/api/queues/${OUT}`, `/api/queues/${OUT}/q`, `/api/queues/${OUT}/nope`, `/api/exchanges/${OUT}`, `/api/exchanges/${OUT}/x`, `/api/bindings/${OUT}`, `/api/bindings/${OUT}/e/x/q/q`];
  for (const u of TAGGED) {
    it(`${TAGS[u]}: 401 "User not authorised to access virtual host" for reads and actions`, async () => {
      for (const path of paths) {
        const r = await api('GET', path, as(u));
        expect(r.status, path).toBe(401);
        expect(r.json, path).toEqual(NO_VHOST);
      }
      const actions: [string, string, unknown][] = [
        ['POST', `/api/queues/${OUT}/q/get`, GET_BODY],
        ['POST', `/api/exchanges/${OUT}/amq.default/publish`, publishBody('q')],
        ['DELETE', `/api/queues/${OUT}/q/contents`, undefined],
        ['DELETE', `/api/queues/${OUT}/q`, undefined],
        ['PUT', `/api/queues/${OUT}/new`, { durable: true }],
        ['PUT', `/api/exchanges/${OUT}/new`, { type: 'fanout' }],
        ['DELETE', `/api/exchanges/${OUT}/x`, undefined],
        ['POST', `/api/bindings/${OUT}/e/x/q/q`, { routing_key: 'z' }],
        ['DELETE', `/api/bindings/${OUT}/e/x/q/q/k`, undefined],
      ];
      for (const [method, path, body] of actions) {
        const r = await api(method, path, body === undefined ? as(u) : { ...as(u), body });
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(r.json, `${method} ${path}`).toEqual(NO_VHOST);
      }
      // The message is still there, the queue and binding too.
      const q = (await api('GET', `/api/queues/${OUT}/q`)).json;
      expect(q.messages).toBe(1);
      expect((await api('GET', `/api/bindings/${OUT}/e/x/q/q`)).json).toHaveLength(1);
    });
  }

  it('a vhost that does not exist is 404 before any permission check', async () => {
    expect((await api('GET', '/api/queues/tags-nosuch', as('mgmt'))).status).toBe(404);
    expect((await api('GET', '/api/queues/tags-nosuch/q', as('mgmt'))).status).toBe(404);
  });

  it('administrator reads there, but acting there needs permissions: 401 "Access refused."', async () => {
    await ok('PUT', `/api/permissions/${NOPERM}/mon`, { configure: '.*', write: '.*', read: '.*' });
    await api('PUT', `/api/queues/${NOPERM}/q`, { ...as('mon'), body: { durable: true } });
    expect((await api('GET', `/api/queues/${NOPERM}/q`)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', `/api/queues/${NOPERM}/q/get`, GET_BODY],
      ['POST', `/api/exchanges/${NOPERM}/amq.default/publish`, publishBody('q')],
      ['DELETE', `/api/queues/${NOPERM}/q`, undefined],
      ['PUT', `/api/queues/${NOPERM}/other`, { durable: true }],
    ] as [string, string, unknown][]) {
      const r = await api(method, path, body === undefined ? {} : { body });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.json, `${method} ${path}`).toEqual(REFUSED);
    }
  });
});

describe('actions in a vhost with permissions', () => {
  for (const u of TAGGED) {
    it(`${TAGS[u]}: declares, binds, publishes, gets, purges and deletes as AMQP would let it`, async () => {
      const q = `act-${u}`;
      const x = `actx-${u}`;
      expect((await api('PUT', `/api/queues/${IN}/${q}`, { ...as(u), body: { durable: true } })).status).toBe(201);
      expect((await api('PUT', `/api/exchanges/${IN}/${x}`, { ...as(u), body: { type: 'fanout', durable: true } })).status).toBe(201);
      expect((await api('POST', `/api/bindings/${IN}/e/${x}/q/${q}`, { ...as(u), body: { routing_key: 'k' } })).status).toBe(201);
      expect((await api('POST', `/api/exchanges/${IN}/${x}/publish`, { ...as(u), body: publishBody('any') })).json).toEqual({ routed: true });
      expect((await api('POST', `/api/exchanges/${IN}/${x}/publish`, { ...as(u), body: publishBody('any') })).json).toEqual({ routed: true });
      const got = await api('POST', `/api/queues/${IN}/${q}/get`, { ...as(u), body: GET_BODY });
      expect(got.status, got.text).toBe(200);
      expect(got.json).toHaveLength(1);
      expect((await api('DELETE', `/api/queues/${IN}/${q}/contents`, as(u))).status).toBe(204);
      expect((await api('DELETE', `/api/bindings/${IN}/e/${x}/q/${q}/k`, as(u))).status).toBe(204);
      expect((await api('DELETE', `/api/exchanges/${IN}/${x}`, as(u))).status).toBe(204);
      expect((await api('DELETE', `/api/queues/${IN}/${q}`, as(u))).status).toBe(204);
      expect((await api('DELETE', `/api/queues/${IN}/${q}`, as(u))).status).toBe(404);
    });
  }

  it('each action checks the configure/write/read permission its AMQP method needs', async () => {
    const lim = as('lim');
    const table: [string, string, unknown, number, unknown][] = [
      // declare and delete need configure on the object
      ['PUT', `/api/queues/${IN}/x-new`, { durable: true }, 401, REFUSED],
      ['PUT', `/api/queues/${IN}/r-q`, { durable: true }, 401, REFUSED],
      ['PUT', `/api/queues/${IN}/c-new`, { durable: true }, 201, undefined],
      ['PUT', `/api/exchanges/${IN}/w-x`, { type: 'fanout', durable: true }, 401, REFUSED],
      ['DELETE', `/api/queues/${IN}/r-q`, undefined, 401, REFUSED],
      ['DELETE', `/api/exchanges/${IN}/w-x`, undefined, 401, REFUSED],
      ['DELETE', `/api/queues/${IN}/no-such-q`, undefined, 404, undefined],
      // get and purge need read on the queue
      ['POST', `/api/queues/${IN}/c-q/get`, GET_BODY, 401, { error: 'not_authorised', reason: `ACCESS_REFUSED - access to queue 'c-q' in vhost '${IN}' refused for user 'lim'` }],
      ['POST', `/api/queues/${IN}/r-q/get`, GET_BODY, 200, []],
      ['DELETE', `/api/queues/${IN}/c-q/contents`, undefined, 401, REFUSED],
      ['DELETE', `/api/queues/${IN}/r-q/contents`, undefined, 204, undefined],
      // publish needs write on the exchange, and passes AMQP's 403 on as a 400
      ['POST', `/api/exchanges/${IN}/amq.default/publish`, publishBody('r-q'), 400, { error: 'bad_request', reason: `403 ACCESS_REFUSED - access to exchange 'amq.default' in vhost '${IN}' refused for user 'lim'` }],
      ['POST', `/api/exchanges/${IN}/w-x/publish`, publishBody(''), 200, { routed: false }],
      // binding needs write on the destination and read on the source
      ['POST', `/api/bindings/${IN}/e/w-x/q/r-q`, { routing_key: 'k' }, 401, REFUSED],
      ['POST', `/api/bindings/${IN}/e/r-x/q/w-q`, { routing_key: 'k' }, 201, undefined],
      ['POST', `/api/bindings/${IN}/e/r-x/e/w-x`, { routing_key: 'k' }, 201, undefined],
      ['DELETE', `/api/bindings/${IN}/e/r-x/q/w-q/k`, undefined, 204, undefined],
    ];
    for (const [method, path, body, status, json] of table) {
      const r = await api(method, path, body === undefined ? lim : { ...lim, body });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(status);
      if (json !== undefined) expect(r.json, `${method} ${path}`).toEqual(json);
    }
    expect((await api('GET', `/api/queues/${IN}/r-q`)).status).toBe(200);
    expect((await api('GET', `/api/exchanges/${IN}/w-x`)).status).toBe(200);
  });
});

describe('connections, channels and consumers', () => {
  it('management users see and close only their own; monitoring sees all but closes none', async () => {
    const mine = await connect('mgmt', IN);
    const ch = await mine.createChannel();
    await ch.consume('q', () => undefined);
    const theirs = await connect('guest', '/');
    const tch = await theirs.createChannel();
    await tch.assertQueue('tags-guest-q', { durable: false });
    await tch.consume('tags-guest-q', () => undefined);

    const all = await eventually(async () => {
      const r = (await api('GET', '/api/connections')).json as { user: string; name: string }[];
      return r.length >= 2 ? r : null;
    }, 'both connections listed');
    const mgmtConn = all.find((c) => c.user === 'mgmt')!.name;
    const guestConn = all.find((c) => c.user === 'guest')!.name;

    const users = async (u: string, path: string): Promise<string[]> => {
      const r = await api('GET', path, as(u));
      expect(r.status, `${u} ${path}`).toBe(200);
      return (r.json as { user?: string; channel_details?: { user: string } }[]).map((x) => x.user ?? x.channel_details!.user).sort();
    };
    for (const path of ['/api/connections', '/api/channels', '/api/consumers']) {
      expect(await users('mon', path), path).toEqual(['guest', 'mgmt']);
      expect(await users('guest', path), path).toEqual(['guest', 'mgmt']);
      expect(await users('mgmt', path), path).toEqual(['mgmt']);
      expect(await users('pm', path), path).toEqual([]);
    }
    expect((await api('GET', '/api/overview', as('mgmt'))).json.object_totals.connections).toBe(1);

    expect((await api('GET', `/api/connections/${enc(guestConn)}`, as('mon'))).status).toBe(200);
    for (const u of ['mgmt', 'pm']) {
      const r = await api('GET', `/api/connections/${enc(guestConn)}`, as(u));
      expect(r.status).toBe(401);
      expect(r.json).toEqual(NOT_OBJECT);
    }
    expect((await api('GET', `/api/connections/${enc(mgmtConn)}`, as('mgmt'))).status).toBe(200);
    for (const [u, name] of [['mon', mgmtConn], ['pm', mgmtConn], ['mgmt', guestConn]] as const) {
      const r = await api('DELETE', `/api/connections/${enc(name)}`, as(u));
      expect(r.status, `${u} closes ${name}`).toBe(401);
      expect(r.json).toEqual(NOT_OBJECT);
    }
    const closed = new Promise<void>((resolve) => mine.once('close', () => resolve()));
    expect((await api('DELETE', `/api/connections/${enc(mgmtConn)}`, as('mgmt'))).status).toBe(204);
    await closed;
    expect((await api('GET', `/api/connections/${enc(guestConn)}`)).status).toBe(200);
  });
});
