// The web UI with 10,000 queues: each page's first full render (navigation to the table or panel
// it shows, data included) in headless Chromium. Timings are printed; the assertion is a generous
// ceiling (shared CI machines), the target is well under a second.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startBroker, type RunningBroker } from '../../src/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const UI_INDEX = fileURLToPath(new URL('../../ui/dist/index.html', import.meta.url));
const QUEUES = 10_000;

describe.skipIf(!HAVE_CHROMIUM)(`management web UI with ${QUEUES} queues`, () => {
  let broker: RunningBroker;
  let browser: Browser;
  let page: Page;
  let conn: ChannelModel;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(UI_INDEX)) throw new Error(`The web UI is not built: ${UI_INDEX} is missing.`);
    broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
    url = `http://127.0.0.1:${broker.managementPort}/`;
    conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' });
    const ch = await conn.createChannel();
    await ch.assertExchange('scale-x', 'direct', { durable: false });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < QUEUES; i++) {
      const q = `scale-q-${String(i).padStart(5, '0')}`;
      pending.push(ch.assertQueue(q, { durable: false }));
      if (i % 10 === 0) pending.push(ch.bindQueue(q, 'scale-x', q));
      if (pending.length >= 500) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    await ch.consume('scale-q-00000', () => undefined);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    await page.fill('#username', 'guest');
    await page.fill('#password', 'guest');
    await page.click('button[type=submit]');
    await page.waitForSelector('header nav');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await conn?.close().catch(() => undefined);
    await broker?.close();
  });

  const timed = async (hash: string, ready: string): Promise<number> => {
    await page.goto(`${url}#/connections`);
    await page.waitForSelector('.page.connections');
    const t0 = Date.now();
    await page.goto(`${url}${hash}`);
    try {
      await page.waitForSelector(ready, { timeout: 20_000 });
    } catch (e) {
      throw new Error(`${hash}: ${ready} not shown: ${(await page.locator("main").innerText()).slice(0, 1500)}`);
    }
    return Date.now() - t0;
  };

  it('renders every page well within the ceiling', async () => {
    const pages: [string, string, string][] = [
      ['overview', '#/overview', '[data-stat="queues"] .stat-value:text("10,000")'],
      ['queues', '#/queues', '[data-table="queues"] .table-foot:text("10,000 items")'],
      ['queue', '#/queues/%2F/scale-q-00000', '[data-table="queue-consumers"] tbody tr td:text("guest")'],
      ['exchanges', '#/exchanges', '[data-table="exchanges"] a.exchange-link:text("scale-x")'],
      ['exchange', '#/exchanges/%2F/scale-x', '[data-table="exchange-bindings-out"] tbody tr:nth-child(500)'],
      ['vhosts', '#/vhosts', '[data-table="vhosts"] tbody td:text("/")'],
      ['node', `#/nodes/${encodeURIComponent(broker.broker.nodeName)}`, '[data-memory] .bar-row'],
    ];
    const times: Record<string, number> = {};
    for (const [name, hash, ready] of pages) times[name] = await timed(hash, ready);
    console.log(`[ui-scale.test] ${QUEUES} queues, ms to a rendered page: ${JSON.stringify(times)}`);
    for (const [name, ms] of Object.entries(times)) expect(ms, name).toBeLessThan(5000);

    // The queues list is paged, filtered and sorted by the broker.
    await page.goto(`${url}#/queues`);
    const names = () => page.locator('[data-table="queues"] a.queue-link').allInnerTexts();
    await expect.poll(async () => (await names()).length, { timeout: 10_000 }).toBe(100);
    await page.click('[data-table="queues"] [data-page=next]');
    await expect.poll(async () => (await names())[0], { timeout: 10_000 }).toBe('scale-q-00100');
    await page.fill('[data-table="queues"] input.filter', '/^scale-q-0999/');
    await expect.poll(async () => (await names()).length, { timeout: 10_000 }).toBe(10);
    expect(await page.locator('[data-table="queues"] .table-foot').innerText()).toMatch(/^10 of 10,000 match/);
    if (process.env.WARREN_UI_SHOTS) await page.screenshot({ path: `${process.env.WARREN_UI_SHOTS}/queues-10k-filtered.png` });
    await page.fill('[data-table="queues"] input.filter', '');
    await page.locator('[data-table="queues"] th', { hasText: 'Name' }).click();
    await page.locator('[data-table="queues"] th', { hasText: 'Name' }).click();
    await expect.poll(async () => (await names())[0], { timeout: 10_000 }).toBe('scale-q-09999');
  });
});
