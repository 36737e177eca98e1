// The web UI's actions in a real headless Chromium (playwright-core), each checked through the
// management API or amqplib: exchanges (with typed arguments), bindings from the queue page and the
// exchange page, users, permissions, vhosts, closing a connection with a reason, definitions export
// and import; the exchange, connection and channel pages and the queue page's consumers; actions
// hidden from a management-only user; "do not refresh"; a login that holds across tabs.
// Needs `npm run build` (ui/dist) and Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startBroker, type RunningBroker } from '../../src/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const UI_INDEX = fileURLToPath(new URL('../../ui/dist/index.html', import.meta.url));
/** Screenshots of the pages the actions use (for people; nothing compares them). */
const SHOTS = process.env.WARREN_UI_SHOTS ?? '/tmp/warren-ui-shots';

if (!HAVE_CHROMIUM) console.warn(`[ui-actions.test] SKIPPED: no Chromium at ${CHROMIUM}.`);

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

describe.skipIf(!HAVE_CHROMIUM)('management web UI actions in Chromium', () => {
  let broker: RunningBroker;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let conn: ChannelModel;
  let ch: Channel;
  let url: string;
  let apiBase: string;
  const pageErrors: string[] = [];

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${apiBase}${path}`, {
      method,
      headers: { authorization: GUEST, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const poll = <T>(fn: () => Promise<T>, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 });
  const text = (p: Page, selector: string) => p.locator(selector).first().innerText();
  const shot = (p: Page, name: string) => p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

  async function login(p: Page, user: string, pass: string): Promise<void> {
    await p.goto(url);
    await p.fill('#username', user);
    await p.fill('#password', pass);
    await p.click('button[type=submit]');
    await p.waitForSelector('header nav');
  }

  beforeAll(async () => {
    if (!existsSync(UI_INDEX)) throw new Error(`The web UI is not built: ${UI_INDEX} is missing. Run \`npm run build\` first.`);
    mkdirSync(SHOTS, { recursive: true });
    // A node named as RabbitMQ's are (name@host): its '@' goes through the UI's links and the API's paths.
    broker = await startBroker({ managementPort: -1, logLevel: 'silent', nodeName: 'rabbit@ui-test' });
    url = `http://127.0.0.1:${broker.managementPort}/`;
    apiBase = `http://127.0.0.1:${broker.managementPort}/api`;
    conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' });
    conn.on('error', () => undefined);
    ch = await conn.createChannel();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('dialog', (d) => void d.accept());
    await login(page, 'guest', 'guest');
  });

  afterAll(async () => {
    await browser?.close();
    await conn?.close().catch(() => undefined);
    await broker?.close();
  });

  it('adds an exchange with typed arguments, binds and publishes from its page, and deletes it', async () => {
    const x = uid('ui-x');
    const q = uid('ui-xq');
    const other = uid('ui-x2');
    await ch.assertQueue(q, { durable: false });
    await ch.assertExchange(other, 'fanout', { durable: false });
    // An administrator sees every section in the header at 1280 px, Users and Definitions included.
    for (const nav of ['users', 'definitions']) expect(await page.locator(`header nav a[data-nav=${nav}]`).isVisible()).toBe(true);
    expect(await page.evaluate(() => { const n = document.querySelector('header nav')!; return n.scrollWidth <= n.clientWidth; })).toBe(true);

    await page.goto(`${url}#/exchanges`);
    await page.click('.page.exchanges details.panel summary');
    const f = '[data-form="exchange"]';
    await page.fill(`${f} input[name=name]`, x);
    await page.selectOption(`${f} select[name=type]`, 'topic');
    await page.uncheck(`${f} input[name=durable]`);
    await page.fill(`${f} input[name=arg-key] >> nth=0`, 'alternate-exchange');
    await page.fill(`${f} input[name=arg-value] >> nth=0`, 'amq.fanout');
    await page.click(`${f} [data-action=add-arg]`);
    await page.fill(`${f} input[name=arg-key] >> nth=1`, 'x-weight');
    await page.fill(`${f} input[name=arg-value] >> nth=1`, '5');
    await page.selectOption(`${f} select[name=arg-type] >> nth=1`, 'number');
    await shot(page, 'exchanges-add');
    await page.click(`${f} button[type=submit]`);
    await poll(() => text(page, '.page.exchanges .note')).toBe(`Exchange ${x} declared.`);
    const made = await api('GET', `/exchanges/%2F/${x}`);
    expect(made.json).toMatchObject({ name: x, type: 'topic', durable: false, auto_delete: false, internal: false, arguments: { 'alternate-exchange': 'amq.fanout', 'x-weight': 5 } });

    // Its page, by the link in the list.
    await page.locator('a.exchange-link', { hasText: x }).click();
    await page.waitForSelector('.page.exchange');
    expect(await text(page, '.exchange-name')).toBe(x);
    await poll(() => text(page, '.page.exchange dl.props')).toMatch(/topic/);

    // Bind a queue and another exchange from here.
    await page.click('.page.exchange details.panel summary');
    const b = '[data-form="bind"]';
    await page.fill(`${b} input[name=destination]`, q);
    await page.fill(`${b} input[name=routing_key]`, 'orders.#');
    await page.click(`${b} button[type=submit]`);
    await poll(async () => (await api('GET', `/bindings/%2F/e/${x}/q/${q}`)).json).toEqual([expect.objectContaining({ routing_key: 'orders.#' })]);
    await page.selectOption(`${b} select[name=destination_type]`, 'exchange');
    await page.fill(`${b} input[name=destination]`, other);
    await page.fill(`${b} input[name=routing_key]`, 'x');
    await page.click(`${b} button[type=submit]`);
    await poll(async () => (await api('GET', `/bindings/%2F/e/${x}/e/${other}`)).json.length).toBe(1);
    await poll(() => page.locator('[data-table="exchange-bindings-out"] tbody tr').count()).toBe(2);

    // Publish through it: routed by the topic binding.
    const payload = `via ${x}`;
    await page.fill('[data-form="publish"] input[name=routing_key]', 'orders.eu');
    await page.fill('[data-form="publish"] textarea[name=payload]', payload);
    await page.click('[data-form="publish"] button[type=submit]');
    await poll(() => text(page, '[data-result="publish"]')).toBe('Message published.');
    const got = await ch.get(q, { noAck: true });
    expect(got && got.content.toString()).toBe(payload);
    expect(got && got.fields.exchange).toBe(x);
    await shot(page, 'exchange');

    // The other exchange's page shows the binding into it.
    await page.goto(`${url}#/exchanges/%2F/${encodeURIComponent(other)}`);
    await poll(() => text(page, '[data-table="exchange-bindings-in"] tbody')).toContain(x);

    // Unbind the queue from the exchange page.
    await page.goto(`${url}#/exchanges/%2F/${encodeURIComponent(x)}`);
    await page.click(`[data-table="exchange-bindings-out"] [data-unbind="${x}|${q}|orders.#"]`);
    await poll(async () => (await api('GET', `/bindings/%2F/e/${x}/q/${q}`)).json).toEqual([]);

    // Delete it.
    await page.click('.page.exchange [data-action=delete]');
    await page.waitForSelector('.page.exchanges');
    expect((await api('GET', `/exchanges/%2F/${x}`)).status).toBe(404);
    await ch.deleteQueue(q);
    await ch.deleteExchange(other);
  });

  it('binds and unbinds a queue from its page, and lists its consumers', async () => {
    const q = uid('ui-bq');
    await ch.assertQueue(q, { durable: false });
    const { consumerTag } = await ch.consume(q, () => undefined, { noAck: false, consumerTag: uid('ui-tag') });
    await page.goto(`${url}#/queues/%2F/${encodeURIComponent(q)}`);
    await page.waitForSelector('.page.queue');
    await poll(() => text(page, '[data-table="queue-consumers"] tbody')).toContain(consumerTag);
    expect(await page.locator('[data-chart="Queued messages"]').count()).toBe(1);

    await page.click('.page.queue details.panel summary');
    const b = '[data-form="bind"]';
    await page.fill(`${b} input[name=source]`, 'amq.headers');
    await page.fill(`${b} input[name=arg-key]`, 'x-match');
    await page.fill(`${b} input[name=arg-value]`, 'all');
    await page.click(`${b} [data-action=add-arg]`);
    await page.fill(`${b} input[name=arg-key] >> nth=1`, 'region');
    await page.fill(`${b} input[name=arg-value] >> nth=1`, 'eu');
    await page.click(`${b} button[type=submit]`);
    await poll(async () => (await api('GET', `/bindings/%2F/e/amq.headers/q/${q}`)).json).toEqual([
      expect.objectContaining({ routing_key: '', arguments: { 'x-match': 'all', region: 'eu' } }),
    ]);
    await poll(() => text(page, '[data-table="queue-bindings"] tbody')).toContain('amq.headers');
    await shot(page, 'queue');

    await page.click(`[data-table="queue-bindings"] [data-unbind="amq.headers|${q}|"]`);
    await poll(async () => (await api('GET', `/bindings/%2F/e/amq.headers/q/${q}`)).json).toEqual([]);
    await ch.cancel(consumerTag);
    await ch.deleteQueue(q);
  });

  it('adds a user with tags, sets and clears a permission, and deletes the user', async () => {
    const u = uid('ui-user');
    await page.goto(`${url}#/users`);
    await page.click('.page.users details.panel >> nth=0');
    const f = '[data-form="user"]';
    await page.fill(`${f} input[name=name]`, u);
    await page.fill(`${f} input[name=password]`, 's3cret');
    await page.check(`${f} input[value=monitoring]`);
    await page.check(`${f} input[value=policymaker]`);
    await page.click(`${f} button[type=submit]`);
    await poll(async () => (await api('GET', `/users/${u}`)).json?.tags).toEqual(['monitoring', 'policymaker']);

    await page.click('.page.users details.panel >> nth=1');
    const p = '[data-form="permission"]';
    await poll(() => page.locator(`${p} select[name=user] option[value="${u}"]`).count()).toBe(1);
    await page.selectOption(`${p} select[name=user]`, u);
    await page.selectOption(`${p} select[name=vhost]`, '/');
    await page.fill(`${p} input[name=configure]`, '^ui-');
    await page.fill(`${p} input[name=write]`, '.*');
    await page.fill(`${p} input[name=read]`, '');
    await page.click(`${p} button[type=submit]`);
    await poll(async () => (await api('GET', `/permissions/%2F/${u}`)).json).toMatchObject({ configure: '^ui-', write: '.*', read: '' });
    await poll(() => page.locator(`[data-clear-permission="${u}|/"]`).count()).toBe(1);
    await shot(page, 'users');

    // A topic permission: set through its form, listed, cleared.
    await page.click('.page.users details.panel >> nth=2');
    const t = '[data-form="topic-permission"]';
    await poll(() => page.locator(`${t} select[name=user] option[value="${u}"]`).count()).toBe(1);
    await page.selectOption(`${t} select[name=user]`, u);
    await page.selectOption(`${t} select[name=vhost]`, '/');
    await page.fill(`${t} input[name=exchange]`, 'amq.topic');
    await page.fill(`${t} input[name=write]`, '^{username}\\.');
    await page.fill(`${t} input[name=read]`, '.*');
    await page.click(`${t} button[type=submit]`);
    await poll(async () => (await api('GET', `/topic-permissions/%2F/${u}`)).json).toEqual([{ user: u, vhost: '/', exchange: 'amq.topic', write: '^{username}\\.', read: '.*' }]);
    await poll(() => page.locator(`[data-clear-topic-permission="${u}|/|amq.topic"]`).count()).toBe(1);
    await page.click(`[data-clear-topic-permission="${u}|/|amq.topic"]`);
    await poll(async () => (await api('GET', `/topic-permissions/%2F/${u}`)).status).toBe(404);

    await page.click(`[data-clear-permission="${u}|/"]`);
    await poll(async () => (await api('GET', `/permissions/%2F/${u}`)).status).toBe(404);
    await page.click(`[data-delete-user="${u}"]`);
    await poll(async () => (await api('GET', `/users/${u}`)).status).toBe(404);
  });

  it('adds a shovel through its form, shows it running, restarts and deletes it; a refused one shows the reason', async () => {
    const name = uid('ui-shovel');
    const src = uid('ui-shovel-src');
    const dest = uid('ui-shovel-dest');
    await page.goto(`${url}#/shovels`);
    await page.click('.page.shovels details.panel');
    const f = '[data-form="shovel"]';
    await page.fill(`${f} input[name=name]`, name);
    await page.fill(`${f} input[name=src-name]`, src);
    await page.fill(`${f} input[name=dest-name]`, dest);
    await page.check(`${f} input[name=forward-headers]`);
    await page.click(`${f} button[type=submit]`);
    await poll(async () => (await api('GET', `/parameters/shovel/%2F/${name}`)).json?.value).toEqual({
      'src-uri': 'amqp://',
      'src-queue': src,
      'dest-uri': 'amqp://',
      'dest-queue': dest,
      'ack-mode': 'on-confirm',
      'src-prefetch-count': 1000,
      'src-delete-after': 'never',
      'dest-add-forward-headers': true,
    });
    await poll(() => page.locator(`[data-shovel="${name}"]`).count()).toBe(1);
    await poll(() => page.locator('.page.shovels [data-state="running"]').count()).toBe(1);
    ch.sendToQueue(src, Buffer.from('through the UI'));
    await poll(async () => (await ch.get(dest, { noAck: true }).then((m) => (m ? m.content.toString() : null))) ?? '').toBe('through the UI');
    await shot(page, 'shovels');
    await page.click(`[data-shovel="${name}"] [data-action=restart]`);
    await poll(() => text(page, '.page.shovels .note')).toBe(`Restarted ${name}.`);
    await page.click(`[data-shovel="${name}"] [data-action=delete]`);
    await poll(async () => (await api('GET', `/parameters/shovel/%2F/${name}`)).status).toBe(404);
    await poll(async () => (await api('GET', '/shovels')).json).toEqual([]);
    // The API's refusal is shown as it is.
    await page.fill(`${f} input[name=name]`, name);
    await page.fill(`${f} input[name=src-uri]`, 'http://nowhere');
    await page.click(`${f} button[type=submit]`);
    await poll(() => text(page, '.page.shovels .note')).toContain('not a valid URI');
    expect((await api('GET', `/parameters/shovel/%2F/${name}`)).status).toBe(404);
    await ch.deleteQueue(src);
    await ch.deleteQueue(dest);
  });

  it('adds a federation upstream through its form, shows the link a policy makes, restarts it and deletes the upstream', async () => {
    const up = uid('ui-upstream');
    const x = uid('ui-fedx');
    // The broker federates from itself (another vhost would do as well): the link runs at once.
    await ch.assertExchange(x, 'fanout', { durable: false });
    await page.goto(`${url}#/federation`);
    await page.click('.page.federation details.panel');
    const f = '[data-form="federation-upstream"]';
    await page.fill(`${f} input[name=name]`, up);
    await page.fill(`${f} input[name=uri]`, `amqp://guest:guest@127.0.0.1:${broker.port}`);
    await page.fill(`${f} input[name=exchange]`, `${x}-up`);
    await page.click(`${f} button[type=submit]`);
    await poll(async () => (await api('GET', `/parameters/federation-upstream/%2F/${up}`)).json?.value).toEqual({ 'ack-mode': 'on-confirm', exchange: `${x}-up`, 'max-hops': 1, uri: `amqp://guest:guest@127.0.0.1:${broker.port}` });
    await poll(() => page.locator(`[data-delete-upstream="${up}"]`).count()).toBe(1);
    expect((await api('PUT', `/policies/%2F/${x}`, { pattern: `^${x}$`, 'apply-to': 'exchanges', definition: { 'federation-upstream': up } })).status).toBe(201);
    await poll(() => page.locator('.page.federation [data-link-state="running"]').count(), 20_000).toBe(1);
    await shot(page, 'federation');
    await page.click('.page.federation [data-restart-link]');
    await poll(() => text(page, '.page.federation .note')).toBe(`Restarted the link of ${x} from ${up}.`);
    await api('DELETE', `/policies/%2F/${x}`);
    await page.click(`[data-delete-upstream="${up}"]`);
    await poll(async () => (await api('GET', `/parameters/federation-upstream/%2F/${up}`)).status).toBe(404);
    await poll(async () => (await api('GET', '/federation-links')).json).toEqual([]);
    await ch.deleteExchange(x);
    await ch.deleteExchange(`${x}-up`);
  });

  it('deletes a vhost', async () => {
    const vh = uid('ui-delvh');
    expect((await api('PUT', `/vhosts/${vh}`, {})).status).toBe(201);
    await page.goto(`${url}#/vhosts`);
    await page.click(`[data-delete-vhost="${vh}"]`);
    await poll(async () => (await api('GET', `/vhosts/${vh}`)).status).toBe(404);
    await poll(() => text(page, '.page.vhosts .note')).toBe(`Virtual host ${vh} deleted.`);
  });

  it('shows a connection (client properties, channels) and a channel, and closes the connection with a reason', async () => {
    const label = uid('ui-conn');
    const victim = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' }, { clientProperties: { connection_name: label } });
    const closed = new Promise<Error | undefined>((resolve) => {
      victim.on('error', (e: Error) => resolve(e));
      victim.on('close', (e?: Error) => resolve(e));
    });
    const vch = await victim.createChannel();
    await vch.prefetch(7);
    const q = uid('ui-cq');
    await vch.assertQueue(q, { durable: false });
    const { consumerTag } = await vch.consume(q, () => undefined);

    await page.goto(`${url}#/connections`);
    const link = page.locator('[data-table="connections"] tbody tr', { hasText: label }).locator('a.connection-link');
    await poll(() => link.count()).toBe(1);
    await link.click();
    await page.waitForSelector('.page.connection');
    await poll(() => text(page, '[data-client-properties]')).toContain(label);
    await poll(() => page.locator('[data-table="connection-channels"] tbody a').count()).toBe(1);
    await shot(page, 'connection');

    // Its channel's page: the consumer, the prefetch.
    await page.locator('[data-table="connection-channels"] tbody a').click();
    await page.waitForSelector('.page.channel');
    await poll(() => text(page, '[data-table="channel-consumers"] tbody')).toContain(consumerTag);
    expect(await text(page, '.page.channel dl.props')).toMatch(/Prefetch\s+7/);
    await shot(page, 'channel');
    await page.click('.page.channel dl.props a');
    await page.waitForSelector('.page.connection');

    await page.fill('[data-form="close"] input[name=reason]', 'maintenance window');
    await page.click('[data-form="close"] button[type=submit]');
    await poll(() => text(page, '[data-result="close"]')).toBe('Connection closed.');
    const err = await closed;
    expect(String(err?.message)).toContain('maintenance window');
    await ch.deleteQueue(q);
  });

  it('exports definitions as a download and imports a file', async () => {
    await page.goto(`${url}#/definitions`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export]')]);
    expect(download.suggestedFilename()).toMatch(/^warren-definitions-.*\.json$/);
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(exported.vhosts.map((v: { name: string }) => v.name)).toContain('/');
    expect(exported.users.map((u: { name: string }) => u.name)).toContain('guest');

    const q = uid('ui-imported');
    const defs = { queues: [{ name: q, vhost: '/', durable: true, auto_delete: false, arguments: { 'x-max-length': 3 } }] };
    await page.setInputFiles('[data-form="import"] input[type=file]', { name: 'defs.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(defs)) });
    await page.click('[data-form="import"] button[type=submit]');
    await poll(() => text(page, '[data-result="definitions"]')).toBe('Imported defs.json.');
    expect((await api('GET', `/queues/%2F/${q}`)).json).toMatchObject({ name: q, durable: true, arguments: { 'x-max-length': 3 } });

    // A refused file shows the API's reason, and nothing is applied.
    await page.setInputFiles('[data-form="import"] input[type=file]', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"queues": [{"name": 5}]}') });
    await page.click('[data-form="import"] button[type=submit]');
    await poll(() => page.locator('[data-result="definitions"].error').count()).toBe(1);
    await shot(page, 'definitions');
    await api('DELETE', `/queues/%2F/${q}`);
  });

  it('shows the node: memory against the watermark, where it goes, disk, descriptors, alarms', async () => {
    const nodes = (await api('GET', '/nodes')).json;
    expect(nodes[0]).toMatchObject({ name: 'rabbit@ui-test', mem_alarm: false, disk_free_alarm: false, alarms: [] });
    expect(nodes[0].mem_used).toBeGreaterThan(0);
    expect(nodes[0].mem_limit).toBeGreaterThan(0);
    expect(nodes[0].fd_used).toBeGreaterThan(0);
    const mem = (await api('GET', '/nodes/rabbit%40ui-test?memory=true')).json.memory;
    expect(mem.total.rss).toBeGreaterThan(0);
    expect(mem.heap_used).toBeGreaterThan(0);

    // From the overview's node link.
    await page.goto(`${url}#/overview`);
    await page.click('.page.overview .info a[href^="#/nodes/"]');
    await page.waitForSelector('.page.node');
    await poll(() => text(page, '[data-alarms]')).toContain('No alarms');
    await poll(() => text(page, '[data-stat="mem-used"] .stat-value')).toMatch(/iB$/);
    expect(await text(page, '[data-stat="fd-used"] .stat-value')).toMatch(/^\d/);
    expect(await page.locator('[data-memory] .bar-row').count()).toBe(5);
    expect(await text(page, '.page.node dl.props')).toMatch(/Memory high watermark/);
    expect(await page.locator('[data-chart="Memory"]').count()).toBe(1);
    await poll(() => page.locator('[data-table="nodes"] tbody a').count()).toBe(1);
    await shot(page, 'node');
  });

  it("opens the overview and node charts with the broker's history, over a chosen range", async () => {
    // The broker samples every 5 s from its start; wait for a few samples, with some traffic.
    const q = uid('ui-hist');
    await ch.assertQueue(q, { durable: false });
    await poll(async () => {
      ch.sendToQueue(q, Buffer.from('x'));
      return (await api('GET', '/overview?msg_rates_age=600&msg_rates_incr=5&lengths_age=600&lengths_incr=5')).json.message_stats.publish_details.samples.length;
    }, 30_000).toBeGreaterThanOrEqual(3);
    const o = (await api('GET', '/overview?msg_rates_age=600&msg_rates_incr=5&lengths_age=600&lengths_incr=5')).json;
    const samples = o.message_stats.publish_details.samples as { sample: number; timestamp: number }[];
    expect(samples[0]!.timestamp).toBeGreaterThan(samples[1]!.timestamp); // newest first, as RabbitMQ
    expect(o.queue_totals.messages_details.samples.length).toBe(samples.length);
    expect(typeof o.message_stats.publish_details.avg_rate).toBe('number');
    const node = (await api('GET', '/nodes/rabbit%40ui-test?node_stats_age=600&node_stats_incr=5')).json;
    expect(node.mem_used_details.samples.length).toBeGreaterThanOrEqual(3);

    // A new tab's first draw already spans the history (not just the moment it opened).
    const opened = Date.now() / 1000;
    const tab = await context.newPage();
    try {
      await tab.goto(`${url}#/overview`);
      await tab.waitForSelector('[data-chart="Message rates"][data-points]');
      const chart = tab.locator('[data-chart="Queued messages"]');
      await poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
      expect(Number(await chart.getAttribute('data-x-min'))).toBeLessThan(opened - 8);
      // The range is a choice: a minute shows at most a minute (12 samples at 5 s, and the live ones).
      await tab.selectOption('.page.overview select.range', '60');
      await poll(async () => Number(await chart.getAttribute('data-x-min'))).toBeGreaterThan(Date.now() / 1000 - 61);
      await tab.selectOption('.page.overview select.range', '600');
      await shot(tab, 'overview');

      await tab.goto(`${url}#/nodes/rabbit%40ui-test`);
      await poll(async () => Number(await tab.locator('[data-chart="Memory"]').getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
    } finally {
      await tab.close();
      await ch.deleteQueue(q);
    }
  });

  it('shows a management user whose permissions grant nothing no write actions', async () => {
    const u = uid('ui-mgmt');
    expect((await api('PUT', `/users/${u}`, { password: 'pw', tags: ['management'] })).status).toBe(201);
    // Access to the vhost ('' grants nothing, as in RabbitMQ): it sees the lists, and may do nothing
    // there (ui-ops.test.ts has a user whose permissions allow some actions).
    expect((await api('PUT', `/permissions/%2F/${u}`, { configure: '', write: '', read: '' })).status).toBe(201);
    const q = uid('ui-mq');
    await ch.assertQueue(q, { durable: false });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(String(e)));
      await login(p, u, 'pw');
      expect(await p.locator('header nav a[data-nav=users]').isHidden()).toBe(true);
      expect(await p.locator('header nav a[data-nav=definitions]').isHidden()).toBe(true);

      await p.goto(`${url}#/queues`);
      await poll(() => p.locator('a.queue-link', { hasText: q }).count()).toBe(1);
      expect(await p.locator('.page.queues details.panel').count()).toBe(0);
      await p.goto(`${url}#/queues/%2F/${encodeURIComponent(q)}`);
      await p.waitForSelector('.page.queue');
      await poll(() => text(p, '.page.queue dl.props')).toContain('classic');
      expect(await p.locator('[data-form]').count()).toBe(0);
      expect(await p.locator('button.danger').count()).toBe(0);
      await shot(p, 'queue-management-user');

      await p.goto(`${url}#/exchanges`);
      await poll(() => p.locator('a.exchange-link', { hasText: 'amq.topic' }).count()).toBe(1);
      expect(await p.locator('.page.exchanges details.panel').count()).toBe(0);
      await p.locator('a.exchange-link', { hasText: 'amq.topic' }).click();
      await p.waitForSelector('.page.exchange');
      expect(await p.locator('[data-form], button.danger').count()).toBe(0);

      await p.goto(`${url}#/policies`);
      await p.waitForSelector('[data-table="policies"]');
      expect(await p.locator('[data-form="policy"]').count()).toBe(0);
      await p.goto(`${url}#/vhosts`);
      await p.waitForSelector('[data-table="vhosts"]');
      expect(await p.locator('[data-form="vhost"], [data-delete-vhost]').count()).toBe(0);
    } finally {
      await ctx.close();
      await api('DELETE', `/users/${u}`);
      await ch.deleteQueue(q);
    }
  });

  it('"do not refresh" stops polling; the login holds across tabs and logging out ends it in all', async () => {
    const polls: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/api/overview')) polls.push(r.url());
    };
    await page.goto(`${url}#/overview`);
    await page.selectOption('header select', '2000');
    page.on('request', onRequest);
    await poll(() => polls.length, 10_000).toBeGreaterThanOrEqual(2);
    await page.selectOption('header select', '0');
    await new Promise((r) => setTimeout(r, 500));
    const before = polls.length;
    await new Promise((r) => setTimeout(r, 4500));
    expect(polls.length).toBe(before);
    // The choice is kept: a reload stays paused.
    await page.reload();
    await page.waitForSelector('header nav');
    expect(await page.inputValue('header select')).toBe('0');
    page.off('request', onRequest);
    await page.selectOption('header select', '5000');

    // A second tab is logged in already.
    const tab = await context.newPage();
    tab.on('pageerror', (e) => pageErrors.push(String(e)));
    await tab.goto(`${url}#/queues`);
    await tab.waitForSelector('.page.queues');
    expect(await tab.locator('header .who').innerText()).toBe('guest');
    // Logging out in the first tab logs the second out.
    await page.click('header [data-action=logout]');
    await page.waitForSelector('#username');
    await tab.waitForSelector('#username');
    expect(await page.evaluate(() => localStorage.getItem('warren.auth'))).toBeNull();
    await tab.close();
    expect(pageErrors).toEqual([]);
  });
});
