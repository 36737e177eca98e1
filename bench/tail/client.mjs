// The latency-tail client's publisher, a worker thread of its own (its own event loop and heap, so
// the consumer's pauses do not delay sends): publishes 16-byte bodies at a steady rate, each
// carrying the wall-clock time it was handed to the socket (ms, float).
import { workerData, parentPort } from 'node:worker_threads';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import amqp from 'amqplib';

const { url, queue, rate, seconds } = workerData;
// This thread's own GC pauses delay its sends: recorded, so the report can tell them apart.
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration]);
}).observe({ entryTypes: ['gc'] });
// TCP_NODELAY, as the bench's workers: Nagle with delayed ACKs holds small publishes up to 40 ms.
const conn = await amqp.connect(url, { noDelay: true });
const ch = await conn.createChannel();
const t0 = performance.now();
let sent = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) {
      clearInterval(tick);
      resolve();
      return;
    }
    // Catch up to the schedule: a late tick sends what it owes, stamped with when it really sent.
    const due = Math.floor(elapsed * rate);
    while (sent < due) {
      const b = Buffer.allocUnsafe(16);
      b.writeDoubleBE(performance.timeOrigin + performance.now(), 0);
      b.writeDoubleBE(sent, 8);
      ch.sendToQueue(queue, b);
      sent++;
    }
  }, 1);
});
await ch.close();
await conn.close();
parentPort.postMessage({ sent, gcs });
