#!/usr/bin/env node
// An AMQP-level health check (Docker HEALTHCHECK): sends the protocol header and expects a
// connection.start frame back. Exit 0 when the broker answers so, 1 otherwise.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { connect } from 'node:net';

const port = Number(process.env.WARREN_PORT ?? process.argv[2] ?? 5672);
const host = process.argv[3] ?? '127.0.0.1';
const CONNECTION_START = Buffer.from([1, 0, 0]); // method frame on channel 0 …
const socket = connect({ port, host });
const fail = (why: string): void => {
  console.error(`unhealthy: ${why}`);
  socket.destroy();
  process.exit(1);
};
const timer = setTimeout(() => fail('no answer in 3 s'), 3000);
let got = Buffer.alloc(0);
socket.on('connect', () => socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
socket.on('data', (d: Buffer) => {
  got = Buffer.concat([got, d]);
  if (got.length < 11) return;
  // … whose payload starts with class 10 (connection), method 10 (start).
  if (got.subarray(0, 3).equals(CONNECTION_START) && got.readUInt32BE(7) === 0x000a000a) {
    clearTimeout(timer);
    socket.destroy();
    process.exit(0);
  }
  fail('unexpected answer');
});
socket.on('error', (e) => fail(e.message));
