// `warren ctl wait` against a real broker process started with --pid-file, as an init script or a
// container entry point uses rabbitmqctl wait: the lines, exit codes and pid-file handling of
// rabbitmqctl 3.10.8 (checked on a node of its own: 0 once running, 69 `process_not_running`, 75 past
// -t, 64 with neither a pid file nor --pid).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, runCtl } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';
import { sleep } from '../helpers/async.js';

const res = resources();

describe('warren ctl wait', () => {
  it('waits for the pid file, then for the broker while its process lives; --pid; a process gone is 69, past -t 75', async () => {
    const dir = await res.tempDir();
    const pidFile = path.join(dir, 'warren.pid');
    const mgmt = await freePort();
    const url = `http://127.0.0.1:${mgmt}`;
    const waiting = runCtl(url, ['wait', pidFile, '-t', '30']);
    await sleep(500); // the file is not there yet
    const b = await res.broker(path.join(dir, 'data'), ['--management-port', String(mgmt), '--pid-file', pidFile]);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBe(b.proc.pid);
    const w = await waiting;
    expect(w.code, w.stderr).toBe(0);
    const node = /on node '([^']+)'/.exec(w.stdout)?.[1];
    expect(w.stdout.split('\n').filter((l) => l !== '')).toEqual([
      `Waiting for pid file '${pidFile}' to appear`,
      `pid is ${pid}`,
      `Waiting for the management API at ${url} while OS process '${pid}' is running`,
      `Waiting for applications 'rabbit_and_plugins' to start on node '${node}'`,
      `Applications 'rabbit_and_plugins' are running on node '${node}'`,
    ]);

    const byPid = await runCtl(url, ['wait', '--pid', String(pid)]);
    expect(byPid.code, byPid.stderr).toBe(0);
    // Credentials the API refuses end the wait (77, as every ctl command), not wait for ever.
    const refused = await runCtl(url, ['wait', '--pid', String(pid)], ['--password', 'wrong']);
    expect(refused.code).toBe(77);
    expect((await runCtl(url, ['wait', '-q', '-P', String(pid)])).stdout).toBe('');

    // A clean stop removes the pid file; waiting on the process then fails at once.
    expect(await b.stop()).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    const gone = await runCtl(url, ['wait', '--pid', String(pid)]);
    expect(gone.code).toBe(69);
    expect(gone.stderr).toBe('Error:\nprocess_not_running\n');
    const late = await runCtl(url, ['wait', pidFile, '-t', '1']);
    expect(late.code).toBe(75);
    expect(late.stderr).toContain(`operation wait on node ${url} timed out. Timeout value used: 1000`);
    const neither = await runCtl(url, ['wait']);
    expect(neither.code).toBe(64);
    expect(neither.stderr).toContain('"No pid or pidfile specified"');
  });
});
