// The management web UI (ui/ → ui/dist) in a real headless Chromium driven by playwright-core,
// against an in-process broker: log in, watch a queue amqplib made, publish / get / purge from the
// queue page, and check the other list pages. Needs `npm run build` (ui/dist) and Debian's
// chromium at /usr/bin/chromium (or CHROMIUM_PATH); without a browser the suite is skipped.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { sleep } from '../helpers/async.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const UI_INDEX = fileURLToPath(new URL('../../ui/dist/index.html', import.meta.url));

if (!HAVE_CHROMIUM) {
  console.warn(`[ui.test] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH).`);
}

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

describe.skipIf(!HAVE_CHROMIUM)('management web UI in Chromium', () => {
  let broker: RunningBroker;
  let browser: Browser;
  let page: Page;
  let conn: ChannelModel;
  let ch: Channel;
  let url: string;
  const shots = mkdtempSync(join(tmpdir(), 'warren-ui-'));
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(UI_INDEX)) {
      throw new Error(`The web UI is not built: ${UI_INDEX} is missing. Run \`npm run build\` (or \`npm run build:ui\`) first.`);
    }
    broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
    url = `http://127.0.0.1:${broker.managementPort}/`;
    conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' });
    conn.on('error', () => undefined);
    ch = await conn.createChannel();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('dialog', (d) => void d.accept());
  });

  afterAll(async () => {
    await browser?.close();
    await conn?.close().catch(() => undefined);
    await broker?.close();
    if (HAVE_CHROMIUM) console.log(`[ui.test] screenshots in ${shots}`);
  });

  const poll = <T>(fn: () => Promise<T>, timeout = 30_000) => expect.poll(fn, { timeout, interval: 100 });
  const text = (selector: string) => page.locator(selector).first().innerText();
  const stat = (key: string) => text(`[data-stat="${key}"] .stat-value`);

  it('serves the built UI quickly and asks for a login; wrong credentials are refused', async () => {
    await page.goto(url);
    const loadMs = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return nav.loadEventEnd > 0 ? nav.loadEventEnd - nav.startTime : performance.now();
    });
    // Reported, not asserted: timings belong to benchmarks, and CI machines are shared.
    console.log(`[ui.test] page load ${loadMs.toFixed(0)} ms`);

    await page.fill('#username', 'guest');
    await page.fill('#password', 'wrong');
    await page.click('button[type=submit]');
    await poll(() => text('.login-form .note')).toMatch(/Login failed/);
    expect(await page.evaluate(() => localStorage.getItem('warren.auth'))).toBeNull();

    await page.fill('#password', 'guest');
    await page.click('button[type=submit]');
    await page.waitForSelector('header nav');
    expect(await page.locator('header .who').innerText()).toBe('guest');
    expect(await page.evaluate(() => localStorage.getItem('warren.auth'))).toContain('guest');
    await poll(() => stat('connections')).toBe('1');
  });

  it('on first load the charts\' time axis spans the real window from the first sample, not years', async () => {
    // A fresh page: no history yet, so the first chart draw has a single sample.
    const fresh = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await fresh.goto(url);
      await fresh.fill('#username', 'guest');
      await fresh.fill('#password', 'guest');
      await fresh.click('button[type=submit]');
      await fresh.waitForSelector('[data-chart="Message rates"]');
      // Each chart publishes the x scale uPlot drew with (seconds since the epoch).
      const windows = () =>
        fresh.$$eval('.chart', (els) => els.map((e) => ({ chart: e.getAttribute('data-chart'), min: Number(e.getAttribute('data-x-min')), max: Number(e.getAttribute('data-x-max')) })));
      await expect.poll(async () => (await windows()).every((w) => w.min > 0 && w.max > 0), { timeout: 15_000, interval: 100 }).toBe(true);
      const now = Date.now() / 1000;
      for (const w of await windows()) {
        const where = `${w.chart}: ${new Date(w.min * 1000).toISOString()} … ${new Date(w.max * 1000).toISOString()}`;
        expect(w.max - w.min, where).toBeGreaterThan(0);
        expect(w.max - w.min, where).toBeLessThanOrEqual(15 * 60);
        expect(Math.abs(w.min - now), where).toBeLessThan(5 * 60);
        expect(Math.abs(w.max - now), where).toBeLessThan(5 * 60);
      }
    } finally {
      await fresh.close();
    }
  });

  it('shows live message rates on the overview', async () => {
    await page.selectOption('header select', '2000');
    const q = uid('ui-load');
    await ch.assertQueue(q, { durable: false });
    await ch.consume(q, (m) => m && ch.ack(m));
    const until = Date.now() + 11_000;
    while (Date.now() < until) {
      for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.from(`load ${i}`));
      await sleep(100);
    }
    await poll(async () => parseFloat(await stat('publish-rate'))).toBeGreaterThan(0);
    await poll(async () => parseFloat(await stat('ack-rate'))).toBeGreaterThan(0);
    expect(await page.locator('.chart canvas').count()).toBe(2);
    expect(await page.locator('[data-chart="Message rates"] .u-legend').innerText()).toMatch(/Publish[\s\S]*Deliver \/ get[\s\S]*Ack/);
    await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });
    await ch.deleteQueue(q);
  });

  it('lists a queue made by amqplib with its message count, sorts the table, and works the queue page', async () => {
    const q = uid('ui-orders');
    const small = uid('ui-small');
    await ch.assertQueue(q, { durable: true });
    await ch.assertQueue(small, { durable: false });
    for (const body of ['first', 'second', 'third']) ch.sendToQueue(q, Buffer.from(body));
    ch.sendToQueue(small, Buffer.from('only'));

    await page.goto(`${url}#/queues`);
    const row = page.locator('[data-table="queues"] tbody tr', { has: page.locator('a.queue-link', { hasText: q }) });
    await poll(() => row.locator('td').nth(6).innerText()).toBe('3');
    expect(await row.locator('td').nth(4).innerText()).toBe('3'); // ready
    expect(await row.locator('td').nth(5).innerText()).toBe('0'); // unacked
    expect(await row.locator('td').nth(0).innerText()).toBe('/');

    // Sorting: "Total" sorts descending first, then ascending on a second click.
    const totalHeader = page.locator('[data-table="queues"] th', { hasText: 'Total' });
    const names = () => page.locator('[data-table="queues"] a.queue-link').allInnerTexts();
    // (The broker sorts and filters: the rows follow once its answer is in.)
    const before = (a: string, b: string) => async () => {
      const order = await names();
      return order.includes(a) && order.includes(b) && order.indexOf(a) < order.indexOf(b);
    };
    await totalHeader.click();
    expect(await totalHeader.getAttribute('aria-sort')).toBe('descending');
    await poll(before(q, small)).toBe(true);
    await totalHeader.click();
    expect(await totalHeader.getAttribute('aria-sort')).toBe('ascending');
    await poll(before(small, q)).toBe(true);
    // Filtering.
    await page.fill('[data-table="queues"] input.filter', q);
    await poll(names).toEqual([q]);
    await page.fill('[data-table="queues"] input.filter', '');
    await poll(async () => (await names()).length).toBeGreaterThan(1);
    await page.screenshot({ path: join(shots, 'queues.png') });

    // The queue page, by its link.
    await row.locator('a.queue-link').click();
    await page.waitForSelector('.page.queue');
    expect(page.url()).toContain(`#/queues/%2F/${encodeURIComponent(q)}`);
    expect(await text('.queue-name')).toBe(q);
    await poll(() => stat('messages')).toBe('3');

    // Get with requeue: shows the messages, leaves them in the queue.
    await page.fill('[data-form="get"] input[name=count]', '2');
    await page.selectOption('[data-form="get"] select[name=ackmode]', 'ack_requeue_true');
    await page.click('[data-form="get"] button[type=submit]');
    await page.waitForSelector('[data-result="get"] .message');
    const payloads = await page.locator('[data-result="get"] pre.payload').allInnerTexts();
    expect(payloads).toEqual(['first', 'second']);
    await poll(() => stat('messages')).toBe('3');

    // Get with ack removes one.
    await page.fill('[data-form="get"] input[name=count]', '1');
    await page.selectOption('[data-form="get"] select[name=ackmode]', 'ack_requeue_false');
    await page.click('[data-form="get"] button[type=submit]');
    await poll(() => stat('messages')).toBe('2');

    // Purge (the confirm() dialog is accepted).
    await page.click('[data-action="purge"]');
    await poll(() => stat('messages')).toBe('0');
    expect((await ch.checkQueue(q)).messageCount).toBe(0);

    // Publish from the UI to the default exchange (routing key = queue name), read it with amqplib.
    const payload = `hello from the UI ${randomUUID()}`;
    expect(await page.inputValue('[data-form="publish"] select[name=exchange]')).toBe('amq.default');
    expect(await page.inputValue('[data-form="publish"] input[name=routing_key]')).toBe(q);
    await page.selectOption('[data-form="publish"] select[name=delivery_mode]', '2');
    await page.fill('[data-form="publish"] input[name=content_type]', 'text/plain');
    await page.fill('[data-form="publish"] input[name=headers]', '{"x-origin": "ui-test"}');
    await page.fill('[data-form="publish"] textarea[name=payload]', payload);
    await page.click('[data-form="publish"] button[type=submit]');
    await poll(() => text('[data-result="publish"]')).toBe('Message published.');
    await poll(() => stat('messages')).toBe('1');
    await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true });

    const got = await ch.get(q, { noAck: true });
    expect(got).not.toBe(false);
    if (got === false) return;
    expect(got.content.toString()).toBe(payload);
    expect(got.properties.contentType).toBe('text/plain');
    expect(got.properties.deliveryMode).toBe(2);
    expect(got.properties.headers).toMatchObject({ 'x-origin': 'ui-test' });
    expect(got.fields.routingKey).toBe(q);

    // Publishing through another exchange: amq.fanout bound to the queue.
    await ch.bindQueue(q, 'amq.fanout', '');
    await page.reload();
    await page.waitForSelector('[data-form="publish"] option[value="amq.fanout"]', { state: 'attached' });
    await page.selectOption('[data-form="publish"] select[name=exchange]', 'amq.fanout');
    await page.fill('[data-form="publish"] textarea[name=payload]', 'via fanout');
    await page.click('[data-form="publish"] button[type=submit]');
    await poll(() => text('[data-result="publish"]')).toBe('Message published.');
    const viaFanout = await ch.get(q, { noAck: true });
    expect(viaFanout && viaFanout.content.toString()).toBe('via fanout');
    expect(viaFanout && viaFanout.fields.exchange).toBe('amq.fanout');

    // Delete from the UI.
    await page.click('[data-action="delete"]');
    await page.waitForSelector('.page.queues');
    const probe = await conn.createChannel();
    probe.on('error', () => undefined);
    await expect(probe.checkQueue(q)).rejects.toThrow(/404|NOT_FOUND/);
    await ch.deleteQueue(small);
  });

  it('lists, sets and deletes policies; the queues list shows the policy that applies', async () => {
    const q = uid('ui-pol');
    await ch.assertQueue(q, { durable: false });
    await page.goto(`${url}#/policies`);
    await page.waitForSelector('[data-table="policies"]');
    await page.click('details.panel summary');
    await page.fill('[data-form="policy"] input[name="name"]', `${q}-p`);
    await page.fill('[data-form="policy"] input[name="pattern"]', `^${q}$`);
    await page.selectOption('[data-form="policy"] select[name="apply-to"]', 'queues');
    await page.fill('[data-form="policy"] input[name="priority"]', '4');
    await page.fill('[data-form="policy"] textarea[name="definition"]', '{"max-length": 1}');
    await page.click('[data-form="policy"] button[type="submit"]');
    const rows = (table: string) => page.locator(`[data-table="${table}"] tbody tr`).allInnerTexts();
    await poll(async () => (await rows('policies')).join('\n')).toContain(`${q}-p`);
    expect((await rows('policies')).find((r) => r.includes(`${q}-p`))).toMatch(/queues\s+\{"max-length":1\}\s+4/);
    // A refused definition shows the API's reason.
    await page.fill('[data-form="policy"] textarea[name="definition"]', '{"foo": 1}');
    await page.click('[data-form="policy"] button[type="submit"]');
    await poll(() => text('.page.policies .note')).toContain('not recognised policy settings');

    await page.goto(`${url}#/queues`);
    const row = page.locator('[data-table="queues"] tbody tr', { has: page.locator('a.queue-link', { hasText: q }) });
    await poll(() => row.locator('td').last().innerText()).toBe(`${q}-p`);

    await page.goto(`${url}#/policies`);
    await page.click(`[data-table="policies"] [data-vhost="/"][data-delete="${q}-p"]`);
    await poll(async () => (await rows('policies')).join('\n')).not.toContain(`${q}-p`);
    await ch.deleteQueue(q);
  });

  it("shows each vhost's default queue type and adds a vhost with one", async () => {
    const vh = uid('ui-vh');
    const rows = () => page.locator('[data-table="vhosts"] tbody tr').allInnerTexts();
    const rowOf = (name: string) => page.locator('[data-table="vhosts"] tbody tr', { has: page.locator('td:first-child', { hasText: new RegExp(`^${name.replace(/[/-]/g, '\\$&')}$`) }) });
    await page.goto(`${url}#/vhosts`);
    // '/' has none set: its queues are classic.
    await poll(() => rowOf('/').locator('td').nth(2).innerText()).toBe('classic (not set)');
    expect(await page.locator('[data-table="vhosts"] th').allInnerTexts()).toEqual(expect.arrayContaining(['Default queue type']));

    await page.click('.page.vhosts details.panel summary');
    await page.fill('[data-form="vhost"] input[name="name"]', vh);
    await page.fill('[data-form="vhost"] input[name="description"]', 'made in the UI');
    await page.selectOption('[data-form="vhost"] select[name="default_queue_type"]', 'quorum');
    await page.click('[data-form="vhost"] button[type="submit"]');
    await poll(() => text('.page.vhosts .note')).toBe(`Virtual host ${vh} set.`);
    await poll(async () => (await rows()).join('\n')).toContain(vh);
    expect(await rowOf(vh).locator('td').nth(1).innerText()).toBe('made in the UI');
    expect(await rowOf(vh).locator('td').nth(2).innerText()).toBe('quorum');

    // The API has it, and a queue declared there without x-queue-type is a quorum queue.
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const api = `http://127.0.0.1:${broker.managementPort}/api`;
    const v = (await (await fetch(`${api}/vhosts/${encodeURIComponent(vh)}`, { headers: auth })).json()) as { default_queue_type: string; description: string };
    expect(v).toMatchObject({ default_queue_type: 'quorum', description: 'made in the UI' });
    const c = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: vh });
    try {
      await (await c.createChannel()).assertQueue('ui-default-type', { durable: true });
    } finally {
      await c.close();
    }
    const q = (await (await fetch(`${api}/queues/${encodeURIComponent(vh)}/ui-default-type`, { headers: auth })).json()) as { type: string };
    expect(q.type).toBe('quorum');

    // The firehose tracer, on and off from the list (as `warren ctl trace_on -p` does).
    const tracingCell = () => rowOf(vh).locator('td').nth(3);
    await poll(() => tracingCell().innerText()).toBe('off Start');
    await page.click(`[data-tracing="${vh}"]`);
    await poll(() => text('.page.vhosts .note')).toBe(`Tracing started for virtual host ${vh}.`);
    await poll(() => tracingCell().innerText()).toBe('on Stop');
    expect(((await (await fetch(`${api}/vhosts/${encodeURIComponent(vh)}`, { headers: auth })).json()) as { tracing: boolean }).tracing).toBe(true);
    await page.click(`[data-tracing="${vh}"]`);
    await poll(() => tracingCell().innerText()).toBe('off Start');
    await page.screenshot({ path: join(shots, 'vhosts.png'), fullPage: true });
    expect((await fetch(`${api}/vhosts/${encodeURIComponent(vh)}`, { method: 'DELETE', headers: auth })).status).toBe(204);
  });

  it('shows exchanges, connections, channels, users and vhosts', async () => {
    const rows = (table: string) => page.locator(`[data-table="${table}"] tbody tr`).allInnerTexts();

    await page.goto(`${url}#/exchanges`);
    await poll(async () => (await rows('exchanges')).join('\n')).toMatch(/amq\.topic\s+topic/);

    await page.goto(`${url}#/connections`);
    await poll(async () => (await rows('connections')).join('\n')).toMatch(/guest[\s\S]*AMQP 0-9-1/);

    await page.goto(`${url}#/channels`);
    await poll(async () => (await rows('channels')).length).toBeGreaterThanOrEqual(1);
    expect((await rows('channels')).join('\n')).toContain('guest');

    await page.goto(`${url}#/users`);
    await poll(async () => (await rows('users')).join('\n')).toMatch(/guest\s+administrator/);
    expect((await rows('permissions')).join('\n')).toMatch(/guest\s+\/\s+\.\*\s+\.\*\s+\.\*/);

    await page.goto(`${url}#/vhosts`);
    await poll(async () => (await rows('vhosts')).map((r) => r.split('\t')[0])).toContain('/');

    // Logging out forgets the credentials.
    await page.click('header button.link');
    await page.waitForSelector('#username');
    expect(await page.evaluate(() => localStorage.getItem('warren.auth'))).toBeNull();
    expect(pageErrors).toEqual([]);
  });
});
