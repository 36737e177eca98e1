// Helpers shared by the scenarios.
import amqp from 'amqplib';
import { spawnWorker } from '../workers.mjs';

/** Runs fn(channel) on a short-lived connection (declares, bindings, passive checks, cleanup). */
export async function admin(url, fn) {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    return await fn(ch);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Deletes queues/exchanges a run declared (the RabbitMQ node is shared between runs). */
export const cleanup = (url, { queues = [], exchanges = [] }) =>
  admin(url, async (ch) => {
    for (const q of queues) await ch.deleteQueue(q);
    for (const e of exchanges) await ch.deleteExchange(e);
  }).catch(() => {});

export const rate = (report, key) => (report.counts[key] * 1000) / report.wallMs;

/** n publisher processes with the same options, named pub (n = 1) or pub1…pubN (--pubs). */
export const spawnPublishers = (n, opts) => Promise.all(Array.from({ length: n }, (_, i) => spawnWorker('publisher', opts, n === 1 ? 'pub' : `pub${i + 1}`)));

/** Sum of a counter's rate over several workers. */
export const sumRate = (m, workers, key) => workers.reduce((a, w) => a + rate(m.reports[w.name], key), 0);
