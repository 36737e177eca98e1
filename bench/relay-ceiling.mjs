#!/usr/bin/env node
// The ceiling of a Node process that only forwards bytes: a sender writes 1 MiB buffers to a relay
// process that pipes them, unparsed, to a receiver, all three on loopback (each its own process).
// What a broker in one Node thread can move for 1 MiB bodies on this machine is below this, since
// it also parses and frames them; `direct` (no relay) is the loopback itself. Prints MiB/s.
// Usage: node bench/relay-ceiling.mjs [direct] [--seconds 6]
import net from 'node:net';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
const at = process.argv.indexOf('--seconds');
const seconds = at >= 0 ? Number(process.argv[at + 1]) : 6;

if (role === 'relay') {
  const srv = net.createServer((a) => {
    const b = net.connect(Number(process.argv[3]), '127.0.0.1');
    a.on('error', () => {});
    b.on('error', () => {});
    a.pipe(b);
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
} else if (role === 'recv') {
  let n = 0;
  let t0 = 0;
  const srv = net.createServer((s) => s.on('data', (d) => {
    if (!t0) t0 = Date.now();
    n += d.length;
  }));
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
  setInterval(() => {
    if (!t0 || Date.now() - t0 < seconds * 1000) return;
    process.send((n / 1048576 / ((Date.now() - t0) / 1000)).toFixed(0));
    process.exit(0);
  }, 100);
} else if (role === 'send') {
  const s = net.connect(Number(process.argv[3]), '127.0.0.1');
  const buf = Buffer.alloc(1 << 20, 1);
  const go = () => {
    while (s.write(buf));
  };
  s.on('connect', go);
  s.on('drain', go);
  s.on('error', () => process.exit(0));
} else {
  const direct = role === 'direct';
  const recv = fork(self, ['recv', '--seconds', String(seconds)]);
  const recvPort = await new Promise((r) => recv.once('message', r));
  let relay = null;
  let target = recvPort;
  if (!direct) {
    relay = fork(self, ['relay', String(recvPort)]);
    target = await new Promise((r) => relay.once('message', r));
  }
  const send = fork(self, ['send', String(target)]);
  recv.once('message', (mibs) => {
    console.log(`${direct ? 'sender → receiver' : 'sender → Node relay → receiver'}: ${mibs} MiB/s (1 MiB writes, ${seconds} s)`);
    send.kill();
    relay?.kill();
  });
}
