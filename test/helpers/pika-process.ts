// Runs the pika scripts of test/pika/ with Debian's python3-pika, collecting their JSON event lines,
// for the pika end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
export const PIKA_DIR = fileURLToPath(new URL('../pika/', import.meta.url));

export type Event = Record<string, unknown> & { event: string };

export interface PyProc {
  name: string;
  proc: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  events(kind?: string): Event[];
  /** Wait for a JSON event matching `pred`; rejects (with output) on exit or timeout. */
  waitFor(pred: (e: Event) => boolean, timeoutMs?: number, what?: string): Promise<Event>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait for exit; SIGKILL and reject if it takes longer than timeoutMs. */
  finish(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  describe(): string;
}

const live = new Set<PyProc>();

export function startPy(script: string, args: string[]): PyProc {
  const argv = [path.join(PIKA_DIR, script), ...args];
  const proc = spawn(PYTHON, ['-u', ...argv], {
    cwd: PIKA_DIR,
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  const events: Event[] = [];
  const listeners = new Set<() => void>();
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(handle);
      resolve(exitInfo);
      for (const l of listeners) l();
    });
  });
  proc.once('error', (err) => { stderr += `\n[spawn error] ${err.message}`; });
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let idx: number;
    while ((idx = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, idx).trim();
      pending = pending.slice(idx + 1);
      if (!line.startsWith('{')) continue;
      try {
        const ev = JSON.parse(line) as Event;
        if (ev && typeof ev.event === 'string') events.push(ev);
      } catch { /* not an event line */ }
    }
    for (const l of listeners) l();
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => { stderr += chunk; });

  const handle: PyProc = {
    name: script,
    proc,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    events: (kind) => (kind ? events.filter((e) => e.event === kind) : events.slice()),
    exited,
    describe: () =>
      `--- ${PYTHON} ${argv.join(' ')}` +
      (exitInfo ? ` (exit code=${exitInfo.code} signal=${exitInfo.signal})` : ' (still running)') +
      `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
    waitFor(pred, timeoutMs = 15_000, what = 'event') {
      return new Promise<Event>((resolve, reject) => {
        const check = (): void => {
          const found = events.find(pred);
          if (found) return done(() => resolve(found));
          if (exitInfo) return done(() => reject(new Error(`${script} exited before ${what}\n${handle.describe()}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${script}\n${handle.describe()}`))),
          timeoutMs,
        );
        const done = (f: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    finish(timeoutMs = 20_000) {
      if (exitInfo) return Promise.resolve(exitInfo);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`${script} did not finish within ${timeoutMs} ms (killed)\n${handle.describe()}`));
        }, timeoutMs);
        void exited.then((info) => { clearTimeout(timer); resolve(info); });
      });
    },
    async kill(signal = 'SIGKILL') {
      if (!exitInfo) proc.kill(signal);
      await exited;
    },
  };
  live.add(handle);
  return handle;
}

/** Run a script to completion, asserting exit code 0. */
export async function runPy(script: string, args: string[], timeoutMs = 20_000): Promise<PyProc> {
  const p = startPy(script, args);
  const { code } = await p.finish(timeoutMs);
  expect(code, `${script} failed\n${p.describe()}`).toBe(0);
  return p;
}

export function fib(n: number): number {
  let a = 0;
  let b = 1;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a;
}

export async function killAllPy(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
}
