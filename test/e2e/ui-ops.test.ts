// The web UI in a real headless Chromium (playwright-core), for what an operator reads and may do:
// the queue page's charts opening with the broker-kept history of the queue; the exchanges,
// connections and channels lists paged, filtered and sorted by the broker (RabbitMQ's ?page,
// ?name, ?sort); the rates on the exchange, connection and channel pages; actions offered as the
// user's vhost permissions allow them (not only by tags). Screenshots of each page go to
// WARREN_UI_SHOTS (default /tmp/warren-ui-shots).
// Needs `npm run build` (ui/dist) and Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startBroker, type RunningBroker } from '../../src/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const UI_INDEX = fileURLToPath(new URL('../../ui/dist/index.html', import.meta.url));
const SHOTS = process.env.WARREN_UI_SHOTS ?? '/tmp/warren-ui-shots';
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

if (!HAVE_CHROMIUM) console.warn(`[ui-ops.test] SKIPPED: no Chromium at ${CHROMIUM}.`);

describe.skipIf(!HAVE_CHROMIUM)('management web UI: history, paged lists, rates, permissions', () => {
  let broker: RunningBroker;
  let browser: Browser;
  let page: Page;
  let conn: ChannelModel;
  let ch: Channel;
  let url: string;
  let apiBase: string;
  let load: Promise<void>;
  let loading = true;
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
    broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
    url = `http://127.0.0.1:${broker.managementPort}/`;
    apiBase = `http://127.0.0.1:${broker.managementPort}/api`;
    conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' }, { clientProperties: { connection_name: 'orders-service' } });
    conn.on('error', () => undefined);
    ch = await conn.createConfirmChannel();
    // Traffic from the start: orders-x → orders (consumed, acked), so every rate and the queue's
    // history have something to show.
    await ch.assertExchange('orders-x', 'direct', { durable: true });
    await ch.assertQueue('orders', { durable: true });
    await ch.bindQueue('orders', 'orders-x', 'new');
    const sub = await conn.createChannel();
    await sub.prefetch(20);
    await sub.consume('orders', (m) => m && sub.ack(m), { consumerTag: 'orders-worker' });
    load = (async () => {
      let i = 0;
      while (loading) {
        for (let k = 0; k < 10; k++) ch.publish('orders-x', 'new', Buffer.from(`order ${i++}`), { persistent: true });
        // A backlog that grows a little then drains, for the length chart.
        if (i % 200 < 20) for (let k = 0; k < 5; k++) ch.sendToQueue('backlog', Buffer.from('b'));
        await ch.waitForConfirms().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await ch.assertQueue('backlog', { durable: false });
    // 150 exchanges: the list has two pages.
    for (let i = 0; i < 150; i++) await ch.assertExchange(`ex-${String(i).padStart(3, '0')}`, 'fanout', { durable: false });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('dialog', (d) => void d.accept());
    await login(page, 'guest', 'guest');
  }, 60_000);

  afterAll(async () => {
    loading = false;
    await load?.catch(() => undefined);
    await browser?.close();
    await conn?.close().catch(() => undefined);
    await broker?.close();
    expect(pageErrors).toEqual([]);
  });

  it("opens a queue page with the queue's broker-kept history in both charts", async () => {
    // Sampled every 5 s from the queue's declaration: wait for three samples.
    await poll(async () => (await api('GET', '/queues/%2F/orders?lengths_age=600&lengths_incr=5&msg_rates_age=600&msg_rates_incr=5')).json.message_stats?.publish_details?.samples?.length ?? 0, 30_000).toBeGreaterThanOrEqual(3);
    const opened = Date.now() / 1000;
    await page.goto(`${url}#/queues/%2F/orders`);
    await page.waitForSelector('.page.queue [data-chart="Message rates"][data-points]');
    // The first draw already spans the history, not only the moment the page opened.
    const rates = page.locator('.page.queue [data-chart="Message rates"]');
    const lengths = page.locator('.page.queue [data-chart="Queued messages"]');
    expect(Number(await rates.getAttribute('data-points'))).toBeGreaterThanOrEqual(2);
    expect(Number(await lengths.getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
    expect(Number(await lengths.getAttribute('data-x-min'))).toBeLessThan(opened - 8);
    await poll(() => text(page, '[data-stat="publish-rate"] .stat-value')).not.toBe('0.0/s');
    await poll(() => text(page, '[data-table="queue-consumers"] tbody')).toContain('orders-worker');
    await shot(page, 'queue-history');
  }, 60_000);

  it('pages, filters and sorts the exchanges list on the broker', async () => {
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/api/exchanges?')) asked.push(decodeURIComponent(r.url()));
    };
    page.on('request', onRequest);
    try {
      await page.goto(`${url}#/exchanges`);
      const names = () => page.locator('[data-table="exchanges"] a.exchange-link').allInnerTexts();
      // 100 rows (the default exchange's without a link).
      await poll(() => page.locator('[data-table="exchanges"] tbody tr').count()).toBe(100);
      expect(asked.some((u) => /page=1&page_size=100/.test(u))).toBe(true);
      expect(await text(page, '[data-table="exchanges"] .table-foot')).toMatch(/page 1 of 2/);
      await page.click('[data-table="exchanges"] [data-page=next]');
      await poll(() => text(page, '[data-table="exchanges"] .table-foot')).toMatch(/page 2 of 2/);
      // Filter on the broker (a regex between slashes), then sort by rate in, highest first.
      await page.fill('[data-table="exchanges"] input.filter', '/^ex-14\\d$/');
      await poll(async () => (await names()).length).toBe(10);
      expect(asked.some((u) => u.includes('name=^ex-14\\d$') && u.includes('use_regex=true') && u.includes('page=1'))).toBe(true);
      await page.fill('[data-table="exchanges"] input.filter', '');
      await page.locator('[data-table="exchanges"] th', { hasText: 'Rate in' }).click();
      await poll(async () => (await names())[0]).toBe('orders-x');
      expect(asked.some((u) => u.includes('sort=message_stats.publish_in_details.rate') && u.includes('sort_reverse=true'))).toBe(true);
      await shot(page, 'exchanges-paged');
    } finally {
      page.off('request', onRequest);
    }
  });

  it('pages and sorts connections and channels on the broker, with their rates', async () => {
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (/\/api\/(connections|channels)\?/.test(r.url())) asked.push(decodeURIComponent(r.url()));
    };
    page.on('request', onRequest);
    try {
      await page.goto(`${url}#/connections`);
      await poll(() => page.locator('[data-table="connections"] a.connection-link').count()).toBe(1);
      expect(asked.some((u) => u.includes('/api/connections?page=1&page_size=100'))).toBe(true);
      await poll(() => text(page, '[data-table="connections"] tbody')).toMatch(/orders-service/);
      await poll(() => text(page, '[data-table="connections"] tbody')).toMatch(/[1-9][\d.]* [KMG]?i?B\/s/);
      await page.locator('[data-table="connections"] th', { hasText: 'From client' }).click();
      await poll(() => asked.some((u) => u.includes('sort=recv_oct_details.rate'))).toBe(true);
      await shot(page, 'connections-paged');

      await page.goto(`${url}#/channels`);
      await poll(() => page.locator('[data-table="channels"] a.channel-link').count()).toBe(2);
      await page.locator('[data-table="channels"] th', { hasText: 'Publish' }).click();
      await poll(() => asked.some((u) => u.includes('/api/channels?') && u.includes('sort=message_stats.publish_details.rate'))).toBe(true);
      // Highest publish rate first: the publishing channel, with a non-zero rate.
      await poll(() => text(page, '[data-table="channels"] tbody tr:first-child')).toMatch(/confirm/);
      await shot(page, 'channels-paged');
    } finally {
      page.off('request', onRequest);
    }
  });

  it('shows rates on the exchange, connection and channel pages', async () => {
    await page.goto(`${url}#/exchanges/%2F/orders-x`);
    await page.waitForSelector('.page.exchange');
    await poll(() => text(page, '[data-stat="publish-in-rate"] .stat-value'), 20_000).not.toBe('0.0/s');
    expect(await text(page, '[data-stat="publish-out-rate"] .stat-value')).not.toBe('0.0/s');
    await poll(() => text(page, '[data-table="exchange-bindings-out"] tbody')).toContain('orders');
    await shot(page, 'exchange-rates');

    await page.goto(`${url}#/connections`);
    await page.locator('a.connection-link').first().click();
    await page.waitForSelector('.page.connection');
    await poll(() => text(page, '[data-stat="recv-rate"] .stat-value')).toMatch(/^[1-9]/);
    await poll(() => text(page, '[data-stat="publish-rate"] .stat-value')).not.toBe('0.0/s');
    await poll(() => text(page, '[data-stat="ack-rate"] .stat-value')).not.toBe('0.0/s');
    await poll(() => page.locator('[data-table="connection-channels"] tbody a').count()).toBe(2);
    expect(await page.locator('[data-form="close"]').count()).toBe(1);
    await shot(page, 'connection-rates');

    // The consuming channel: its consumer (from the channel's own consumer_details) and its rates.
    const chans = (await api('GET', '/channels')).json as { name: string; consumer_count: number }[];
    const consuming = chans.find((c) => c.consumer_count === 1)!;
    await page.goto(`${url}#/channels/${encodeURIComponent(consuming.name)}`);
    await page.waitForSelector('.page.channel');
    await poll(() => text(page, '[data-table="channel-consumers"] tbody')).toContain('orders-worker');
    await poll(() => text(page, '[data-stat="deliver-rate"] .stat-value')).not.toBe('0.0/s');
    await poll(() => text(page, '[data-stat="ack-rate"] .stat-value')).not.toBe('0.0/s');
    await shot(page, 'channel-rates');
  }, 40_000);

  it('offers a user the actions their vhost permissions allow, and no others', async () => {
    // A management user who may configure, write and read only "team-*" names in "/".
    expect((await api('PUT', '/users/team', { password: 'pw', tags: ['management'] })).status).toBe(201);
    expect((await api('PUT', '/permissions/%2F/team', { configure: '^team-', write: '^team-', read: '^team-' })).status).toBe(201);
    await api('PUT', '/queues/%2F/team-jobs', { durable: false });
    await api('PUT', '/exchanges/%2F/team-x', { type: 'direct' });
    const mine = (await api('GET', '/whoami/permissions')).json;
    expect(mine).toEqual([expect.objectContaining({ user: 'guest', vhost: '/', configure: '.*' })]);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(String(e)));
      await login(p, 'team', 'pw');
      expect(await p.locator('header nav a[data-nav=users]').isHidden()).toBe(true);

      // Its own queue: publish (to team-x only), get, purge, delete, bind.
      await p.goto(`${url}#/queues/%2F/team-jobs`);
      await p.waitForSelector('.page.queue');
      await poll(() => text(p, '.page.queue dl.props')).toContain('classic');
      for (const f of ['publish', 'get']) expect(await p.locator(`[data-form="${f}"]`).count(), f).toBe(1);
      expect(await p.locator('button[data-action=purge]').count()).toBe(1);
      expect(await p.locator('button[data-action=delete]').count()).toBe(1);
      await poll(() => p.locator('[data-form="publish"] select[name=exchange] option').allInnerTexts()).toEqual(['team-x']);
      expect(await p.locator('.page.queue details.panel summary', { hasText: 'Add binding' }).count()).toBe(1);
      await shot(p, 'queue-permitted-user');

      // Someone else's queue: nothing to do there.
      await p.goto(`${url}#/queues/%2F/orders`);
      await p.waitForSelector('.page.queue');
      await poll(() => text(p, '.page.queue dl.props')).toContain('classic');
      expect(await p.locator('[data-form], button.danger').count()).toBe(0);
      expect(await p.locator('.page.queue details.panel').count()).toBe(0);

      // Exchanges: may declare (in "/"), publish to and delete team-x, not amq.direct.
      await p.goto(`${url}#/exchanges`);
      await p.fill('[data-table="exchanges"] input.filter', 'team');
      await poll(() => p.locator('a.exchange-link', { hasText: 'team-x' }).count()).toBe(1);
      expect(await p.locator('.page.exchanges details.panel').count()).toBe(1);
      await p.goto(`${url}#/exchanges/%2F/team-x`);
      await p.waitForSelector('.page.exchange');
      expect(await p.locator('[data-form="publish"]').count()).toBe(1);
      expect(await p.locator('[data-action="delete"]').count()).toBe(1);
      await p.goto(`${url}#/exchanges/%2F/amq.direct`);
      // (team-x is a direct exchange too: wait for this page's name, not the previous page's props.)
      await poll(() => text(p, '.page.exchange .exchange-name')).toBe('amq.direct');
      await poll(() => text(p, '.page.exchange dl.props')).toContain('direct');
      expect(await p.locator('[data-form], [data-action="delete"]').count()).toBe(0);

      // The API agrees: what the page hides is refused.
      const asTeam = `Basic ${Buffer.from('team:pw').toString('base64')}`;
      const del = await fetch(`${apiBase}/queues/%2F/orders`, { method: 'DELETE', headers: { authorization: asTeam } });
      expect(del.status).toBe(401);
    } finally {
      await ctx.close();
    }
  }, 60_000);

  it("offers a monitoring user no close on others' connections", async () => {
    expect((await api('PUT', '/users/watcher', { password: 'pw', tags: ['monitoring'] })).status).toBe(201);
    expect((await api('PUT', '/permissions/%2F/watcher', { configure: '', write: '', read: '.*' })).status).toBe(201);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(String(e)));
      await login(p, 'watcher', 'pw');
      await p.goto(`${url}#/connections`);
      await poll(() => p.locator('a.connection-link').count()).toBe(1);
      await p.locator('a.connection-link').first().click();
      await p.waitForSelector('.page.connection');
      await poll(() => text(p, '[data-client-properties]')).toContain('orders-service');
      expect(await p.locator('[data-form="close"]').isVisible()).toBe(false);
      // read on everything: get and purge on a queue, nothing else.
      await p.goto(`${url}#/queues/%2F/orders`);
      await p.waitForSelector('.page.queue');
      await poll(() => p.locator('[data-form="get"]').count()).toBe(1);
      expect(await p.locator('[data-form="publish"]').count()).toBe(0);
      expect(await p.locator('button[data-action=delete]').count()).toBe(0);
    } finally {
      await ctx.close();
    }
  });
});
