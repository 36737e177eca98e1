// A forked client process that holds N idle AMQP connections (bench/scale.mjs, the connections
// step). Messages from the parent: { cmd: 'open', port, count, concurrency, sources } → replies
// { ok, openMs, cpuMs, failed, firstError }; { cmd: 'close' } → destroys every socket, exits.
// sources: local addresses (127.x.y.z) the connections are spread over, so that more than one
// ephemeral port range is available (about 28,000 ports per source address with Linux's default).
import { Conn } from './amqp.mjs';

const conns = [];

async function open({ port, count, concurrency, sources, timeoutMs }) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 0;
  let failed = 0;
  let firstError;
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  const lane = async () => {
    while (next < count) {
      if (Date.now() > deadline) return;
      const i = next++;
      const c = new Conn({ port, localAddress: sources[i % sources.length] ?? undefined });
      try {
        await c.open(Math.max(1000, deadline - Date.now()));
        conns.push(c);
      } catch (e) {
        failed++;
        firstError ??= String(e.message ?? e);
        c.destroy();
      }
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        process.send({ progress: conns.length, failed, ms: performance.now() - t0 });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const openMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  return { ok: failed === 0 && conns.length === count, opened: conns.length, openMs, cpuMs: (c.user + c.system) / 1000, failed, firstError, timedOut: conns.length + failed < count };
}

process.on('message', async (m) => {
  if (m.cmd === 'open') process.send({ result: await open(m) });
  else if (m.cmd === 'alive') {
    // how many of the held connections are still up (the broker did not drop them)
    process.send({ result: { alive: conns.filter((c) => !c.closed).length } });
  } else if (m.cmd === 'close') {
    for (const c of conns) c.destroy();
    process.send({ result: { closed: conns.length } }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
