// A long quorum queue on a three-node Warren cluster (brokers.mjs startWarrenCluster): N persistent
// messages published with confirms (window 1000) through a node that does not own the queue, then
// drained (prefetch 1000, ack every 100) through the third node. Prints the fill and drain rates,
// what the owner held in memory and paged out, and the owner's peak RSS.
// usage: node bench/cluster-paging.mjs [--n 100000] [--body 2000] [-- warren args, e.g. --page-out-messages 10000]
import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import { startWarrenCluster } from './brokers.mjs';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash < 0 ? argv : argv.slice(0, dash);
const extraArgs = dash < 0 ? [] : argv.slice(dash + 1);
const opt = (name, dflt) => {
  const i = own.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(own[i + 1]);
};
const N = opt('n', 100_000);
const body = Buffer.alloc(opt('body', 2000), 'x');
const peakRssMiB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

const h = await startWarrenCluster({ extraArgs });
const conns = [];
const open = async (i) => {
  const c = await amqp.connect(h.nodes[i].url);
  conns.push(c);
  return c;
};
try {
  await (await (await open(0)).createChannel()).assertQueue('paging', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const owner = await h.owner('paging');
  const pub = await (await open((owner + 1) % 3)).createConfirmChannel();
  let t0 = performance.now();
  for (let i = 0; i < N; i += 1000) {
    for (let j = i; j < Math.min(N, i + 1000); j++) pub.sendToQueue('paging', body, { persistent: true });
    await pub.waitForConfirms();
  }
  const fill = N / ((performance.now() - t0) / 1000);
  const q = await (await fetch(`http://127.0.0.1:${h.nodes[owner].mgmtPort}/api/queues/%2F/paging`, { headers: auth })).json();
  const con = await (await open((owner + 2) % 3)).createChannel();
  await con.prefetch(1000);
  let got = 0;
  t0 = performance.now();
  await new Promise((resolve) => {
    void con.consume('paging', (m) => {
      if (++got % 100 === 0 || got === N) con.ack(m, true);
      if (got === N) resolve();
    });
  });
  const drain = N / ((performance.now() - t0) / 1000);
  console.log(
    JSON.stringify({ warrenArgs: extraArgs, messages: N, bodyBytes: body.length, fillMsgsPerS: Math.round(fill), drainMsgsPerS: Math.round(drain), ownerInMemory: q.messages_ram, ownerPagedOut: q.messages_paged_out, ownerPeakRssMiB: Math.round(peakRssMiB(h.nodes[owner].pid)) }),
  );
} finally {
  for (const c of conns) await c.close().catch(() => {});
  await h.stop();
}
