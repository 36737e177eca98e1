/**
 * What an end-to-end test opens (temporary directories, broker processes, amqplib connections),
 * released after each test in reverse order, whatever the test's outcome.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { spawnBroker, type BrokerProcess } from './broker-process.js';

export interface Resources {
  /** Runs fn after the test (before what was deferred earlier). */
  defer(fn: () => Promise<unknown>): void;
  tempDir(prefix?: string): Promise<string>;
  /** A broker process on dataDir, killed after the test if it is still running. */
  broker(dataDir: string, args?: string[]): Promise<BrokerProcess>;
  /** An amqplib connection as guest, whose errors are ignored (brokers get killed here). */
  connect(port: number): Promise<ChannelModel>;
}

/** Call once at the top of a test file: registers the afterEach that releases everything. */
export function resources(): Resources {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const defer = (fn: () => Promise<unknown>): void => {
    cleanups.push(fn);
  };
  return {
    defer,
    async tempDir(prefix = 'warren-test-') {
      const dir = await mkdtemp(path.join(tmpdir(), prefix));
      defer(() => rm(dir, { recursive: true, force: true }));
      return dir;
    },
    async broker(dataDir, args = []) {
      const b = await spawnBroker({ dataDir, args });
      defer(async () => {
        if (b.proc.exitCode === null && b.proc.signalCode === null) await b.kill9();
      });
      return b;
    },
    async connect(port) {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      conn.on('error', () => undefined);
      defer(() => conn.close());
      return conn;
    },
  };
}
