// --idle-poll reaches the broker process's event loop (src/server/idle-poll.ts; the mechanism is
// tested in test/server/idle-poll.test.ts and test/e2e/idle-poll-request-reply.test.ts), and a value out of range is refused.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, spawnBroker } from '../helpers/broker-process.js';

describe('--idle-poll', () => {
  it('is 50 µs unless given', async () => {
    const a = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug', '--idle-poll', '0'] });
    const b = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug'] });
    try {
      const of = (logs: Array<Record<string, unknown>>): unknown => logs.find((l) => l.msg === 'event loop idle poll after writes')?.idlePollUs;
      expect(of(a.logs()), a.output()).toBe(0);
      expect(of(b.logs()), b.output()).toBe(50);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('refuses a value outside 0-1000', () => {
    for (const v of ['-1', '1001', '1.5']) {
      const r = spawnSync(process.execPath, [CLI_PATH, '--in-memory', '--idle-poll', v], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--idle-poll: ${v} is not an integer from 0 to 1000`);
    }
  });
});
