// `warren ctl wait [PIDFILE] [--pid PID]`: rabbitmqctl wait, for init scripts and container entry
// points. Waits for the pid file (the broker's --pid-file) to appear, then, while that process
// lives, for the broker to answer and its vhosts to run, printing rabbitmqctl 3.10.8's lines. The
// process gone first is 69 `process_not_running`; past --timeout, 75, as rabbitmqctl.
import process from 'node:process';
import { readFile } from 'node:fs/promises';
import { EX_UNAVAILABLE } from './ctl-diagnostics.js';

export interface WaitIo {
  /** A management API GET; rejects while nothing answers. */
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  say(line: string): void;
  err(line: string): void;
  /** The management URL, named in the timeout's error. */
  url: string;
  /** Whether a failed GET ends the wait (credentials refused) rather than meaning "not up yet". */
  fatal(e: unknown): boolean;
}

const EX_TEMPFAIL = 75;
const POLL_MS = 200;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function pidIn(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const m = /^\s*(\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : null;
}

/** Resolves with the exit code. timeoutMs undefined: no limit (rabbitmqctl's default for wait). */
export async function waitForBroker(pidFile: string | undefined, givenPid: number | undefined, timeoutMs: number | undefined, io: WaitIo): Promise<number> {
  const until = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  const timedOut = (): number => {
    io.err(`Error: operation wait on node ${io.url} timed out. Timeout value used: ${String(timeoutMs)}`);
    return EX_TEMPFAIL;
  };
  let pid = givenPid;
  if (pid === undefined) {
    io.say(`Waiting for pid file '${pidFile!}' to appear`);
    for (;;) {
      const p = await pidIn(pidFile!);
      if (p !== null) {
        pid = p;
        break;
      }
      if (Date.now() >= until) return timedOut();
      await sleep(POLL_MS);
    }
    io.say(`pid is ${pid}`);
  }
  io.say(`Waiting for the management API at ${io.url} while OS process '${pid}' is running`);
  const gone = (): number => {
    io.err('Error:');
    io.err('process_not_running');
    return EX_UNAVAILABLE;
  };
  let node: string | null = null;
  for (;;) {
    if (!running(pid)) return gone();
    if (node === null) {
      node = await io.get('/api/overview').then(
        (r) => (r.status === 200 ? String(r.body.node) : null),
        (e: unknown) => {
          if (io.fatal(e)) throw e;
          return null;
        },
      );
      if (node !== null) io.say(`Waiting for applications 'rabbit_and_plugins' to start on node '${node}'`);
    }
    if (node !== null) {
      const up = await io.get('/api/health/checks/virtual-hosts').then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) {
        io.say(`Applications 'rabbit_and_plugins' are running on node '${node}'`);
        return 0;
      }
    }
    if (Date.now() >= until) return timedOut();
    await sleep(POLL_MS);
  }
}
