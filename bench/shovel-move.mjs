// How fast a local dynamic shovel moves a queue: N persistent messages (100-byte bodies) are put in
// a durable queue, then a shovel (amqp:// to amqp://, ack-mode on-confirm) moves them to another
// durable queue; the time runs from the shovel's PUT until the source is empty and the destination
// full. Against any running broker with the shovel plugin (Warren, RabbitMQ with rabbitmq_shovel):
// Usage: node bench/shovel-move.mjs --port 5672 --mgmt 15672 [--n 50000] [--rounds 2]
import amqp from 'amqplib';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const port = arg('port', 5672);
const mgmt = arg('mgmt', 15672);
const n = arg('n', 50_000);
const rounds = arg('rounds', 2);
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const api = (method, path, body) =>
  fetch(`http://127.0.0.1:${mgmt}/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });

const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
const ch = await conn.createConfirmChannel();
const body = Buffer.alloc(100, 'x');
for (let r = 1; r <= rounds; r++) {
  for (const q of ['bench-shovel-src', 'bench-shovel-dst']) {
    await ch.deleteQueue(q);
    await ch.assertQueue(q, { durable: true });
  }
  for (let i = 0; i < n; i++) {
    if (!ch.sendToQueue('bench-shovel-src', body, { persistent: true })) await new Promise((res) => ch.once('drain', res));
    if (i % 5000 === 4999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  const t0 = Date.now();
  await api('PUT', '/parameters/shovel/%2f/bench-shovel', { value: { 'src-uri': 'amqp://', 'src-queue': 'bench-shovel-src', 'dest-uri': 'amqp://', 'dest-queue': 'bench-shovel-dst' } });
  for (;;) {
    const [dst, src] = [await ch.checkQueue('bench-shovel-dst'), await ch.checkQueue('bench-shovel-src')];
    if (dst.messageCount >= n && src.messageCount === 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const s = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ round: r, port, messages: n, seconds: s, msgsPerSec: Math.round(n / s) }));
  await api('DELETE', '/parameters/shovel/%2f/bench-shovel');
}
for (const q of ['bench-shovel-src', 'bench-shovel-dst']) await ch.deleteQueue(q);
await conn.close();
