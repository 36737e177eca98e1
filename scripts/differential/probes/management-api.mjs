#!/usr/bin/env node
// The management HTTP API as scripts and operators' tools use it, against the broker's management
// port (PROBE_MGMT_PORT), guest/guest: bodies with keys missing or none at all (RabbitMQ's docs
// create a vhost with curl, content-type JSON and no body), defaults an empty body leaves, the
// error answers (status, error, reason), what a management-only user may read. Each check prints
// one {"check", "value"} line; `npm run differential` compares the values between the brokers.
// The names are fixed, so the answers that quote them compare; the vhost and user are deleted
// before and after (the RabbitMQ node is shared by every suite of a run).
const port = process.env.PROBE_MGMT_PORT;
if (!port || port === '0') {
  console.error('PROBE_MGMT_PORT is not set');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}/api`;
const tag = 'mgmt-probe';
const vhost = `${tag}-vh`;
const V = encodeURIComponent(vhost);
const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** One request: status and the JSON answer's error/reason (or the text when it is not JSON). */
async function call(method, path, { body, raw, bare = false, type = 'application/json', user = 'guest', pass = 'guest' } = {}) {
  const headers = { authorization: basic(user, pass) };
  let sent = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  // type null: no content-type at all (fetch gives a string body text/plain of its own, bytes none).
  if (type === null && sent !== undefined) sent = Buffer.from(sent);
  else if (body !== undefined || raw !== undefined || bare) headers['content-type'] = type;
  const res = await fetch(base + path, { method, headers, body: sent, redirect: 'manual' });
  const text = await res.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}
const answer = (r) => [r.status, r.json && typeof r.json === 'object' && !Array.isArray(r.json) && 'error' in r.json ? { error: r.json.error, reason: r.json.reason } : null];
const check = (name, value) => console.log(JSON.stringify({ check: name, value }));
const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o?.[k] ?? null]));

// The broker's management listener may come up just after its AMQP one.
for (let i = 0; ; i++) {
  try {
    await call('GET', '/whoami');
    break;
  } catch (e) {
    if (i > 100) throw e;
    await new Promise((r) => setTimeout(r, 100));
  }
}

await call('DELETE', `/vhosts/${V}`);
await call('DELETE', `/users/${tag}-user`);
try {
  check('vhost PUT, content-type JSON and no body', (await call('PUT', `/vhosts/${V}`, { bare: true })).status);
  check('vhost PUT again', (await call('PUT', `/vhosts/${V}`, { bare: true })).status);
  check('vhost PUT with a body that is not JSON', answer(await call('PUT', `/vhosts/${V}`, { raw: '{' })));

  check('exchange PUT, no body', (await call('PUT', `/exchanges/${V}/x1`, { bare: true })).status);
  check('exchange PUT, no body and no content-type', (await call('PUT', `/exchanges/${V}/x0`)).status);
  check('queue PUT, no body and no content-type', (await call('PUT', `/queues/${V}/q0`)).status);
  check('permissions PUT, no body and no content-type', answer(await call('PUT', `/permissions/${V}/guest`)));
  check('exchange made from no body', pick((await call('GET', `/exchanges/${V}/x1`)).json, ['type', 'durable', 'auto_delete', 'internal', 'arguments']));
  check('exchange PUT {} again', (await call('PUT', `/exchanges/${V}/x1`, { body: {} })).status);
  check('exchange PUT, a typo of a type', answer(await call('PUT', `/exchanges/${V}/x2`, { body: { type: 'topics' } })));
  check('exchange PUT, a plugin type not enabled', answer(await call('PUT', `/exchanges/${V}/x3`, { body: { type: 'x-jms-topic' } })));
  check('exchange PUT, the empty type', answer(await call('PUT', `/exchanges/${V}/x4`, { body: { type: '' } })));
  check('exchange PUT, inequivalent type', answer(await call('PUT', `/exchanges/${V}/x1`, { body: { type: 'fanout' } })));
  check('exchange PUT, amq. prefix', answer(await call('PUT', `/exchanges/${V}/amq.mine`, { body: { type: 'direct' } })));
  check('exchange DELETE, amq.direct', answer(await call('DELETE', `/exchanges/${V}/amq.direct`)));
  check('exchange DELETE, amq.default', answer(await call('DELETE', `/exchanges/${V}/amq.default`)));
  check('exchange DELETE, missing', answer(await call('DELETE', `/exchanges/${V}/nope`)));

  check('queue PUT, no body', (await call('PUT', `/queues/${V}/q1`, { bare: true })).status);
  check('queue made from no body', pick((await call('GET', `/queues/${V}/q1`)).json, ['durable', 'auto_delete', 'exclusive', 'arguments', 'type']));
  check('queue PUT, quorum and not durable', answer(await call('PUT', `/queues/${V}/q2`, { body: { durable: false, arguments: { 'x-queue-type': 'quorum' } } })));
  check('queue PUT, inequivalent durable', answer(await call('PUT', `/queues/${V}/q1`, { body: { durable: true } })));
  check('queue GET, missing', answer(await call('GET', `/queues/${V}/nope`)));
  check('queue PUT, amq. prefix', answer(await call('PUT', `/queues/${V}/amq.q`, { body: {} })));
  check('queue DELETE, missing', answer(await call('DELETE', `/queues/${V}/nope`)));

  check('binding POST, no body', (await call('POST', `/bindings/${V}/e/x1/q/q1`, { bare: true })).status);
  check('binding POST, missing queue', answer(await call('POST', `/bindings/${V}/e/x1/q/nope`, { body: { routing_key: 'k' } })));
  check('binding POST, missing source', answer(await call('POST', `/bindings/${V}/e/nope/q/q1`, { body: { routing_key: 'k' } })));
  check('binding POST, both missing', answer(await call('POST', `/bindings/${V}/e/nope/q/nope2`, { body: { routing_key: 'k' } })));
  check('binding POST, missing destination exchange', answer(await call('POST', `/bindings/${V}/e/x1/e/nope`, { body: { routing_key: 'k' } })));
  check('binding POST, from the default exchange', answer(await call('POST', `/bindings/${V}/e/amq.default/q/q1`, { body: { routing_key: 'k' } })));
  check('bindings GET, missing queue', [answer(await call('GET', `/bindings/${V}/e/x1/q/nope`)), (await call('GET', `/bindings/${V}/e/x1/q/nope`)).json]);
  check('bindings GET, missing source', [answer(await call('GET', `/bindings/${V}/e/nope/q/q1`)), (await call('GET', `/bindings/${V}/e/nope/q/q1`)).json]);
  check('exchange bindings, amq.default as source and destination', [
    answer(await call('GET', `/exchanges/${V}/amq.default/bindings/source`)),
    answer(await call('GET', `/exchanges/${V}/amq.default/bindings/destination`)),
  ]);
  check('exchange GET, amq.default', pick((await call('GET', `/exchanges/${V}/amq.default`)).json, ['name', 'type', 'durable']));
  check('binding DELETE, missing', answer(await call('DELETE', `/bindings/${V}/e/x1/q/q1/nope`)));

  check('permissions PUT, no body', answer(await call('PUT', `/permissions/${V}/guest`, { bare: true })));
  check('permissions PUT, configure only', answer(await call('PUT', `/permissions/${V}/guest`, { body: { configure: '.*' } })));
  check('permissions PUT, bad regex', (await call('PUT', `/permissions/${V}/guest`, { body: { configure: '(', write: '', read: '' } })).status);

  check('topic permissions GET, none for the pair', (await call('GET', `/topic-permissions/${V}/guest`)).status);
  check('topic permissions PUT, first of the pair', (await call('PUT', `/topic-permissions/${V}/guest`, { body: { exchange: 'amq.topic', write: '^a', read: '^b' } })).status);
  check('topic permissions PUT, another exchange', (await call('PUT', `/topic-permissions/${V}/guest`, { body: { exchange: 'x1', write: '', read: '.*' } })).status);
  check('topic permissions PUT, no exchange', answer(await call('PUT', `/topic-permissions/${V}/guest`, { body: { write: 'a', read: 'b' } })));
  check('topic permissions PUT, no patterns', answer(await call('PUT', `/topic-permissions/${V}/guest`, { body: { exchange: 'e' } })));
  check('topic permissions PUT, missing user', answer(await call('PUT', `/topic-permissions/${V}/nobody`, { body: { exchange: 'e', write: 'a', read: 'b' } })));
  check('topic permissions PUT, bad regex', (await call('PUT', `/topic-permissions/${V}/guest`, { body: { exchange: 'e', write: '(', read: 'b' } })).status);
  check('topic permissions GET, the pair', (await call('GET', `/topic-permissions/${V}/guest`)).json);
  check('topic permissions in the vhost', (await call('GET', `/vhosts/${V}/topic-permissions`)).json);
  check('topic permissions DELETE, the pair', (await call('DELETE', `/topic-permissions/${V}/guest`)).status);
  check('topic permissions DELETE, none left', (await call('DELETE', `/topic-permissions/${V}/guest`)).status);

  check('publish POST, no body', answer(await call('POST', `/exchanges/${V}/x1/publish`, { bare: true })));
  check('publish POST, payload_encoding missing', answer(await call('POST', `/exchanges/${V}/x1/publish`, { body: { routing_key: 'q1', properties: {}, payload: 'x' } })));
  const routed = await call('POST', `/exchanges/${V}/amq.default/publish`, { body: { routing_key: 'q1', properties: {}, payload: 'x', payload_encoding: 'string' } });
  check('publish POST, routed', [routed.status, routed.json]);
  const missingX = await call('POST', `/exchanges/${V}/nope/publish`, { body: { routing_key: 'q1', properties: {}, payload: 'x', payload_encoding: 'string' } });
  check('publish POST, missing exchange', answer(missingX));

  // Queue actions on q1, which holds the one message published above.
  check('queue get, no body', answer(await call('POST', `/queues/${V}/q1/get`, { bare: true })));
  const got = await call('POST', `/queues/${V}/q1/get`, { body: { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' } });
  check('queue get, requeued', [got.status, Array.isArray(got.json) ? got.json.map((m) => pick(m, ['payload', 'payload_bytes', 'payload_encoding', 'redelivered', 'exchange', 'routing_key', 'message_count'])) : got.json]);
  // Not compared: a bad ackmode (3.10.8 answers 500, Warren 400 naming the allowed values).
  check('queue DELETE if-empty, not empty', answer(await call('DELETE', `/queues/${V}/q1?if-empty=true`)));
  check('queue contents DELETE', (await call('DELETE', `/queues/${V}/q1/contents`)).status);
  check('queue action, bogus', answer(await call('POST', `/queues/${V}/q1/actions`, { body: { action: 'bogus' } })));
  check('queue action, sync', answer(await call('POST', `/queues/${V}/q1/actions`, { body: { action: 'sync' } })));
  check('queue action, cancel_sync', answer(await call('POST', `/queues/${V}/q1/actions`, { body: { action: 'cancel_sync' } })));
  check('queue action, no body', answer(await call('POST', `/queues/${V}/q1/actions`, { bare: true })));
  // Not compared: an action on a missing queue (3.10.8 answers 500, Warren 404).
  check('exchange DELETE if-unused, bound', answer(await call('DELETE', `/exchanges/${V}/x1?if-unused=true`)));
  check('queue bindings', (await call('GET', `/queues/${V}/q1/bindings`)).json?.map?.((b) => pick(b, ['source', 'destination', 'routing_key', 'properties_key'])) ?? null);
  check('consumers of the vhost', (await call('GET', `/consumers/${V}`)).json);
  check('connection GET, missing', answer(await call('GET', '/connections/nope')));
  check('channel GET, missing', answer(await call('GET', '/channels/nope')));
  check('operator policy PUT, no body', answer(await call('PUT', `/operator-policies/${V}/op1`, { bare: true })));
  const gp = `/global-parameters/${tag}-gp`;
  await call('DELETE', gp);
  check('global parameter PUT, new', (await call('PUT', gp, { body: { value: { a: 1 } } })).status);
  check('global parameter PUT, again', (await call('PUT', gp, { body: { value: 'x' } })).status);
  check('global parameter PUT, no value', answer(await call('PUT', gp, { body: {} })));
  check('global parameter GET', (await call('GET', gp)).text);
  check('global parameter GET, missing', answer(await call('GET', `${gp}-none`)));
  check('global parameter DELETE', (await call('DELETE', gp)).status);
  check('global parameter DELETE, none', answer(await call('DELETE', gp)));
  check('global parameters listed by name', (await call('GET', '/global-parameters')).json?.map?.((x) => x.name) ?? null);
  check('cluster name PUT, no name', answer(await call('PUT', '/cluster-name', { body: {} })));
  check('vhost PUT, tracing not a boolean', answer(await call('PUT', `/vhosts/${V}`, { body: { tracing: 'yes' } })));
  check('vhost PUT, tracing "true"', (await call('PUT', `/vhosts/${V}`, { body: { tracing: 'true' } })).status);
  check('vhost tracing after it', (await call('GET', `/vhosts/${V}`)).json?.tracing ?? null);
  check('vhost PUT, no tracing key', (await call('PUT', `/vhosts/${V}`, { body: {} })).status);
  check('vhost tracing left as it was', (await call('GET', `/vhosts/${V}`)).json?.tracing ?? null);
  check('vhost PUT, tracing false', (await call('PUT', `/vhosts/${V}`, { body: { tracing: false } })).status);
  check('policy PUT, no body', answer(await call('PUT', `/policies/${V}/p1`, { bare: true })));
  check('policy PUT, definition missing', answer(await call('PUT', `/policies/${V}/p1`, { body: { pattern: 'x' } })));
  check('policy PUT, a negative message-ttl', answer(await call('PUT', `/policies/${V}/p1`, { body: { pattern: '.*', definition: { 'message-ttl': -1 } } })));
  check('vhost limit PUT, no body', answer(await call('PUT', `/vhost-limits/${V}/max-queues`, { bare: true })));
  // The order of lists when no sort is asked for: objects made out of order.
  for (const q of ['ord-zz', 'ord-aa', 'ord-B', 'ord-a1']) await call('PUT', `/queues/${V}/${q}`, { body: { durable: false } });
  for (const x of ['ordx-zz', 'ordx-aa']) await call('PUT', `/exchanges/${V}/${x}`, { body: { type: 'direct' } });
  for (const [q, k] of [['ord-zz', 'k2'], ['ord-aa', 'k9'], ['ord-B', 'k1'], ['ord-aa', 'k0']]) await call('POST', `/bindings/${V}/e/ordx-aa/q/${q}`, { body: { routing_key: k } });
  const names = async (path, f = (x) => x.name) => ((await call('GET', path)).json ?? []).map(f).filter((n) => typeof n === 'string' && n.includes('ord'));
  check('list order: queues', await names('/queues'));
  check('list order: a vhost\'s queues', await names(`/queues/${V}`));
  check('list order: exchanges', await names(`/exchanges/${V}`));
  check('list order: bindings', await names(`/bindings/${V}`, (b) => `${b.source}>${b.destination}:${b.routing_key}`));
  check('list order: an exchange\'s bindings', await names(`/exchanges/${V}/ordx-aa/bindings/source`, (b) => `${b.destination}:${b.routing_key}`));
  check('list order: a queue\'s bindings', await names(`/queues/${V}/ord-aa/bindings`, (b) => `${b.source}>${b.destination}:${b.routing_key}`));
  check('list order: a page of queues', (await call('GET', `/queues/${V}?page=1&page_size=2`)).json?.items?.map((q) => q.name) ?? null);
  // Runtime parameters: a shovel refused (3.10.8 with rabbitmq_shovel), and this route's escaping.
  check('shovel PUT, empty value', answer(await call('PUT', `/parameters/shovel/${V}/s1`, { body: { value: {} } })));
  check('shovel PUT, bad keys', answer(await call('PUT', `/parameters/shovel/${V}/s1`, { body: { value: { 'src-uri': 'x://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'ack-mode': 'x', foo: 1 } } })));
  check('federation upstream PUT, bad values', answer(await call('PUT', `/parameters/federation-upstream/${V}/u1`, { body: { value: { uri: 5, 'max-hops': 'x', foo: 1 } } })));
  check('federation upstream set PUT, a member without upstream', answer(await call('PUT', `/parameters/federation-upstream-set/${V}/s1`, { body: { value: [{ foo: 1 }] } })));
  check('policy PUT, two federation keys', answer(await call('PUT', `/policies/${V}/pf`, { body: { pattern: 'x', definition: { 'federation-upstream': 'u', 'federation-upstream-set': 'all' } } })));
  check('policy PUT, a federation upstream that is no string', answer(await call('PUT', `/policies/${V}/pf`, { body: { pattern: 'x', definition: { 'federation-upstream': 5 } } })));
  check('exchange types', (await call('GET', '/overview')).json?.exchange_types?.map((t) => t.name).sort() ?? null);
  check('federation links of a vhost with none', (await call('GET', `/federation-links/${V}`)).json);
  check('vhost-limits parameter PUT, an unknown limit', answer(await call('PUT', `/parameters/vhost-limits/${V}/limits`, { body: { value: { foo: 1 } } })));

  const user = `${tag}-user`;
  check('user PUT without tags', answer(await call('PUT', `/users/${user}`, { body: { password: 'pw' } })));
  check('user PUT without a password', (await call('PUT', `/users/${user}`, { body: { tags: 'management' } })).status);
  check('that user logs in with no password', (await call('GET', '/whoami', { user, pass: '' })).status);
  check('user PUT with a password', (await call('PUT', `/users/${user}`, { body: { password: 'pw', tags: 'management' } })).status);
  await call('PUT', `/permissions/${V}/${user}`, { body: { configure: '.*', write: '.*', read: '.*' } });
  check('management user: GET its vhost', answer(await call('GET', `/vhosts/${V}`, { user, pass: 'pw' })));
  check('management user: GET its queue', (await call('GET', `/queues/${V}/q1`, { user, pass: 'pw' })).status);
  check('management user: GET /users', answer(await call('GET', '/users', { user, pass: 'pw' })));
  check('management user: whoami', (await call('GET', '/whoami', { user, pass: 'pw' })).json);
  check('wrong password', answer(await call('GET', '/overview', { pass: 'wrong' })));
  await call('DELETE', `/users/${user}`);

  check('aliveness test', (await call('GET', `/aliveness-test/${V}`)).json);
  check('health: alarms', (await call('GET', '/health/checks/alarms')).json);
  check('health: virtual hosts', (await call('GET', '/health/checks/virtual-hosts')).json);
  // Content types: any, or none, read as JSON; a few resources JSON only; definitions as a form too.
  const userBody = { password: 'pw', tags: '' };
  check('user PUT, JSON with no content-type', (await call('PUT', `/users/${tag}-user`, { body: userBody, type: null })).status);
  check('user PUT, JSON as text/plain', (await call('PUT', `/users/${tag}-user`, { body: userBody, type: 'text/plain' })).status);
  check('user PUT, JSON as a form', (await call('PUT', `/users/${tag}-user`, { body: userBody, type: 'application/x-www-form-urlencoded' })).status);
  check('user PUT, a real form', answer(await call('PUT', `/users/${tag}-user`, { raw: 'password=x&tags=', type: 'application/x-www-form-urlencoded' })));
  check('publish, another user_id', answer(await call('POST', `/exchanges/${V}/amq.direct/publish`, { body: { properties: { user_id: 'someone' }, routing_key: 'k', payload: 'p', payload_encoding: 'string' } })));
  check('publish, its own user_id', (await call('POST', `/exchanges/${V}/amq.direct/publish`, { body: { properties: { user_id: 'guest' }, routing_key: 'k', payload: 'p', payload_encoding: 'string' } })).json);
  check('publish, JSON as text/plain', (await call('POST', `/exchanges/${V}/amq.direct/publish`, { body: { properties: {}, routing_key: 'k', payload: 'p', payload_encoding: 'string' }, type: 'text/plain' })).json);
  for (const [what, type] of [['text/plain', 'text/plain'], ['no content-type', null]]) {
    check(`vhost limit PUT, ${what}`, answer(await call('PUT', `/vhost-limits/${V}/max-connections`, { body: { value: 5 }, type })));
    check(`user limit PUT, ${what}`, answer(await call('PUT', `/user-limits/${tag}-user/max-channels`, { body: { value: 5 }, type })));
    check(`operator policy PUT, ${what}`, answer(await call('PUT', `/operator-policies/${V}/op`, { body: { pattern: '^$', definition: { 'max-length': 5 } }, type })));
    check(`definitions POST, ${what}`, answer(await call('POST', `/definitions/${V}`, { body: {}, type })));
  }
  check('vhost limit PUT, JSON with a charset', (await call('PUT', `/vhost-limits/${V}/max-connections`, { body: { value: 5 }, type: 'application/json; charset=utf-8' })).status);
  const upload = async (parts) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(parts)) form.append(k, k === 'file' ? new Blob([v], { type: 'application/json' }) : v);
    const res = await fetch(`${base}/definitions/${V}`, { method: 'POST', headers: { authorization: basic('guest', 'guest') }, body: form, redirect: 'manual' });
    const text = await res.text();
    return [res.status, res.headers.get('location'), text];
  };
  const defs = JSON.stringify({ queues: [{ name: 'formq', durable: true, auto_delete: false, arguments: {} }] });
  check('definitions as a form', await upload({ file: defs }));
  check('definitions as a form with a redirect', await upload({ file: defs, redirect: '../#/queues' }));
  check('definitions as a form without a file', await upload({ other: defs }));
  check('definitions as a form, file not JSON', await upload({ file: '{' }));
  check('definitions, a form that is none', (await call('POST', `/definitions/${V}`, { raw: 'garbage', type: 'multipart/form-data; boundary=xyz' })).status);

  check('unknown path', answer(await call('GET', '/no-such-thing')));
  check('method a path does not take', (await call('POST', '/vhosts')).status);
} finally {
  await call('DELETE', `/vhosts/${V}`).catch(() => undefined);
}
