/**
 * Spawn the built Warren CLI (dist/cli.js) as a child process.
 *
 * Generic helper for e2e tests that need a real broker process (restart,
 * SIGTERM, kill -9 ...). Requires `npm run build` to have produced dist/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'cli.js');

export interface SpawnBrokerOptions {
  /** Data directory passed as --data-dir (not with command). */
  dataDir?: string;
  /**
   * Runs this command instead of `node dist/cli.js --port 0 … --data-dir`, as its own process
   * group (so signals reach the broker under a wrapper such as npm); settings go in env.
   */
  command?: { file: string; args: string[]; cwd: string };
  /** Extra CLI arguments, appended after the defaults (later flags win in yargs). */
  args?: string[];
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /**
   * How long to wait for the "listening" log line (default 15 s), and for "management listening"
   * too when the args turn the management API on: it comes up after the AMQP listener.
   */
  startTimeoutMs?: number;
  /** How long stop()/kill9() wait for the process to exit (default 15 s). */
  stopTimeoutMs?: number;
}

export interface BrokerProcess {
  port: number;
  proc: ChildProcess;
  /** Send SIGTERM and resolve with the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
  /** Send SIGKILL and resolve once the process has exited. */
  kill9(): Promise<void>;
  /** Everything written to stdout so far. */
  readonly stdout: string;
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** stdout + stderr, formatted for assertion messages. */
  output(): string;
  /** Parsed JSON log lines seen on stdout so far (non-JSON lines are skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnBroker(opts: SpawnBrokerOptions): Promise<BrokerProcess> {
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 15_000;

  if (!existsSync(CLI_PATH)) {
    return Promise.reject(new Error(`spawnBroker: ${CLI_PATH} does not exist; run \`npm run build\` first`));
  }

  const argv = opts.command
    ? [opts.command.file, ...opts.command.args]
    : [
        CLI_PATH,
        '--port', '0',
        '--host', '127.0.0.1',
        ...(opts.dataDir === undefined ? [] : ['--data-dir', opts.dataDir]),
        '--log-level', 'info',
        // The management API and the Prometheus endpoint are off unless a test asks for them:
        // 15672 and 15692 are not ours to take.
        '--management-port', '0',
        '--prometheus-port', '-1',
        ...(opts.args ?? []),
      ];
  const proc = opts.command
    ? spawn(opts.command.file, opts.command.args, {
        cwd: opts.command.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(process.execPath, argv, {
        cwd: REPO_ROOT,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  /** To the whole group when the broker runs under a wrapper: npm does not pass SIGKILL on. */
  const signal = (sig: NodeJS.Signals): void => {
    if (opts.command && proc.pid !== undefined) {
      try {
        process.kill(-proc.pid, sig);
      } catch {
        // the group is gone already
      }
    } else proc.kill(sig);
  };

  let stdout = '';
  let stderr = '';
  let pending = '';
  const logs: Array<Record<string, unknown>> = [];
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  const output = (): string =>
    `--- broker argv: ${argv.join(' ')}\n--- broker stdout ---\n${stdout}\n--- broker stderr ---\n${stderr}` +
    (exitInfo ? `\n--- broker exited: code=${exitInfo.code} signal=${exitInfo.signal}` : '');

  const waitExit = (sig: NodeJS.Signals, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (exitInfo) return Promise.resolve(exitInfo);
    signal(sig);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        signal('SIGKILL');
        reject(new Error(`spawnBroker: broker did not exit within ${stopTimeoutMs} ms after ${what}\n${output()}`));
      }, stopTimeoutMs);
      void exited.then((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  };

  // The last --management-port wins (yargs); the defaults above set it to 0 (off).
  const mgmtAt = argv.lastIndexOf('--management-port');
  const wantsApi = !opts.command && mgmtAt >= 0 && argv[mgmtAt + 1] !== '0';

  return new Promise<BrokerProcess>((resolve, reject) => {
    let settled = false;
    let amqpPort = 0;
    let apiUp = !wantsApi;
    const fail = (msg: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!exitInfo) signal('SIGKILL');
      reject(new Error(`spawnBroker: ${msg}\n${output()}`));
    };
    const timer = setTimeout(() => fail(`no "listening"${wantsApi ? ' and "management listening"' : ''} log line within ${startTimeoutMs} ms`), startTimeoutMs);

    const onLine = (line: string): void => {
      let rec: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(line);
        if (!parsed || typeof parsed !== 'object') return;
        rec = parsed as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.msg === 'listening' && typeof rec.port === 'number' && amqpPort === 0) amqpPort = rec.port;
      if (rec.msg === 'management listening') apiUp = true;
      if (!settled && amqpPort !== 0 && apiUp) {
        settled = true;
        clearTimeout(timer);
        const port = amqpPort;
        resolve({
          port,
          proc,
          get stdout() { return stdout; },
          get stderr() { return stderr; },
          output,
          logs: () => logs.slice(),
          exited,
          stop: async () => (await waitExit('SIGTERM', 'SIGTERM')).code,
          kill9: async () => { await waitExit('SIGKILL', 'SIGKILL'); },
        });
      }
    };

    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let idx: number;
      while ((idx = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, idx).trim();
        pending = pending.slice(idx + 1);
        if (line) onLine(line);
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => { stderr += chunk; });
    proc.once('error', (err) => fail(`spawn error: ${err.message}`));
    void exited.then(({ code, signal }) => fail(`broker exited before listening (code=${code}, signal=${signal})`));
  });
}
