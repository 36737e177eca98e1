// The Dockerfile, without a Docker engine: linted for the rules the image promises (multi-stage,
// non-root, health check, ports, volume, pinned Node 22 bases, `warren` as the ENTRYPOINT), and its
// commands exercised as plain commands: the build step with an npm that "succeeds" without building,
// `docker run IMAGE [args]` as ENTRYPOINT + args with the image's environment, the AMQP-level
// HEALTHCHECK, and a data directory the image's user (uid 1000) cannot write.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { REPO_ROOT, spawnBroker } from '../helpers/broker-process.js';
import { waitUntil, withTimeout } from '../helpers/async.js';
import { freePort } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';

const res = resources();
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
/** Instructions with continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
const finalStage = instructions.slice(instructions.map((i) => i.op).lastIndexOf('FROM'));

/** An exec-form instruction's argv (JSON array); undefined when absent or in shell form. */
function execForm(op: string): string[] | undefined {
  const i = finalStage.filter((x) => x.op === op).pop();
  if (!i?.args.startsWith('[')) return undefined;
  return JSON.parse(i.args) as string[];
}
const ENTRYPOINT = execForm('ENTRYPOINT');
const CMD = execForm('CMD');

/** An image path (/app/…) or `node` as it is on this machine. */
const local = (word: string): string => (word === 'node' ? process.execPath : word.replace(/^\/app\//, REPO_ROOT));

/** The environment the image sets, with the listeners moved to loopback and free ports. */
function imageEnv(dataDir: string, managementPort = 0): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const i of finalStage.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S*)/g)) env[m[1]!] = m[2]!;
  }
  return { ...env, WARREN_DATA_DIR: dataDir, WARREN_HOST: '127.0.0.1', WARREN_MANAGEMENT_HOST: '127.0.0.1', WARREN_PORT: '0', WARREN_MANAGEMENT_PORT: String(managementPort), WARREN_PROMETHEUS_PORT: '-1' };
}

/** `docker run IMAGE ...args` as a local command: ENTRYPOINT + (args, or CMD when there are none). */
function dockerRunArgv(args: string[]): string[] {
  expect(ENTRYPOINT, 'exec-form ENTRYPOINT').toBeDefined();
  return [...ENTRYPOINT!, ...(args.length ? args : (CMD ?? []))].map(local);
}

function dockerRunSync(args: string[], env: NodeJS.ProcessEnv = process.env, uid?: number): SpawnSyncReturns<string> {
  const [cmd, ...rest] = dockerRunArgv(args);
  // The image runs as the `node` user (uid 1000): setpriv stands in for USER node.
  const [file, argv] = uid === undefined ? [cmd!, rest] : ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', cmd!, ...rest]];
  return spawnSync(file, argv, { env, cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
}

/** Starts `docker run IMAGE ...args`; resolves with the AMQP and management ports once listening. */
async function dockerRun(args: string[], dataDir: string): Promise<{ port: number; mgmt: number; out: () => string }> {
  const [cmd, ...rest] = dockerRunArgv(args);
  const proc = spawn(cmd!, rest, { env: imageEnv(dataDir, await freePort()), cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  res.defer(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  });
  let out = '';
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const started = new Promise<{ port: number; mgmt: number; out: () => string }>((resolve, reject) => {
    let port = 0;
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      port ||= Number(/"port":(\d+),"host"[^\n]*"msg":"listening"/.exec(out)?.[1] ?? 0);
      const mgmt = Number(/"port":(\d+)[^\n]*"msg":"management listening"/.exec(out)?.[1] ?? 0);
      if (port && mgmt) resolve({ port, mgmt, out: () => out });
    });
    proc.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
  });
  return withTimeout(started, 15_000, `docker run IMAGE ${args.join(' ')} listening`);
}

describe('Dockerfile lint', () => {
  it('is multi-stage with pinned Node 22 LTS base images; the project still supports Node 20', () => {
    const froms = instructions.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) {
      expect(f.args).toMatch(/^[\w./-]+:[\w.-]+/); // a tag is given
      expect(f.args).not.toMatch(/:latest\b/);
      expect(f.args).toMatch(/^node:22[-.\s]/);
    }
    expect(finalStage.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=20');
  });

  it('runs as a non-root user with data on a volume, the ports exposed, and a health check', () => {
    const user = finalStage.filter((i) => i.op === 'USER').pop();
    expect(user?.args).toBeDefined();
    expect(['root', '0']).not.toContain(user!.args);
    expect(finalStage.some((i) => i.op === 'VOLUME' && i.args.includes('/var/lib/warren'))).toBe(true);
    const exposed = finalStage.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(['5672', '5671', '15672']));
    expect(finalStage.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('dist/healthcheck.js'))).toBe(true);
  });

  it('has warren itself as an exec-form ENTRYPOINT, so arguments after the image name reach it, not node', () => {
    // exec form: node is PID 1 and gets SIGTERM (clean shutdown); shell form would swallow it.
    expect(ENTRYPOINT, finalStage.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'no ENTRYPOINT').toEqual(['node', '--max-semi-space-size=64', '--v8-pool-size=1', '/app/dist/cli.js']);
    // CMD, in exec form, holds only warren's default arguments: `docker run IMAGE --flag` replaces it.
    expect(CMD).toBeDefined();
    expect(CMD!.some((w) => w === 'node' || w.endsWith('.js'))).toBe(false);
  });

  it('copies everything the build needs (the prepare script builds server and UI)', () => {
    const build = instructions.slice(0, instructions.map((i) => i.op).lastIndexOf('FROM'));
    const copied = build.filter((i) => i.op === 'COPY').map((i) => i.args).join(' ');
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'scripts', 'ui']) expect(copied).toContain(needed);
    expect(finalStage.map((i) => i.args).join(' ')).toContain('ui/dist');
  });
});

describe('the build step', () => {
  const step = instructions.find((i) => i.op === 'RUN' && i.args.includes('npm ci'));

  /** Runs the Dockerfile's `RUN npm ci …` in an empty WORKDIR with `npm` replaced by script. */
  async function runBuildStep(npmScript: string): Promise<SpawnSyncReturns<string>> {
    const dir = await res.tempDir('warren-docker-build-');
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'bin', 'npm'), `#!/bin/sh\n${npmScript}\n`);
    chmodSync(join(dir, 'bin', 'npm'), 0o755);
    return spawnSync('/bin/sh', ['-c', step!.args], { cwd: join(dir, 'app'), env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` }, encoding: 'utf8' });
  }

  it('fails when npm ci exits 0 without building (registry unreachable: "Exit handler never called!")', async () => {
    expect(step).toBeDefined();
    const r = await runBuildStep('echo "npm error Exit handler never called!" >&2; exit 0');
    expect(r.status, r.stdout + r.stderr).not.toBe(0);
  });

  it('passes when npm ci builds the server and the UI', async () => {
    const r = await runBuildStep('if [ "$1" = ci ]; then mkdir -p dist ui/dist && touch dist/cli.js ui/dist/index.html; fi; exit 0');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});

describe('docker run IMAGE …, run as plain commands', () => {
  it('--help and ctl --help reach warren (not node: "node: bad option")', () => {
    const help = dockerRunSync(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--data-dir');
    const ctlHelp = dockerRunSync(['ctl', '--help']);
    expect(ctlHelp.status, ctlHelp.stderr).toBe(0);
    expect(ctlHelp.stdout).toMatch(/Commands: .*list_queues/);
  });

  it('no arguments (CMD) starts a broker with the image environment that the HEALTHCHECK finds healthy', async () => {
    const b = await dockerRun([], await res.tempDir('warren-docker-'));
    const hc = /CMD (\[.*\])$/.exec(finalStage.find((i) => i.op === 'HEALTHCHECK')!.args);
    expect(hc, 'exec-form HEALTHCHECK CMD').not.toBeNull();
    const [cmd, ...args] = (JSON.parse(hc![1]!) as string[]).map(local);
    const health = spawnSync(cmd!, [...args.slice(0, -1), String(b.port)], { encoding: 'utf8' });
    expect(health.status, health.stderr).toBe(0);
  });

  it('--log-level debug reaches the broker, and ctl status talks to it', async () => {
    const b = await dockerRun(['--log-level', 'debug'], await res.tempDir('warren-docker-'));
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    await conn.close();
    await waitUntil(() => /"level":20[^\n]*"msg":"client closed connection"/.test(b.out()), 'a debug line');
    const status = dockerRunSync(['ctl', '--url', `http://127.0.0.1:${b.mgmt}`, 'status']);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^Queue count: \d+$/m);
  });

  it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv'))(
    'a data directory owned by root (a bind-mounted host directory) stops the broker with the chown that fixes it',
    async () => {
      const dir = await res.tempDir('warren-docker-root-');
      chmodSync(dir, 0o755); // readable by uid 1000, writable only by root: as a fresh host directory
      const r = dockerRunSync([], imageEnv(dir), 1000);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).not.toMatch(/LOCK: Permission denied/);
      expect(r.stdout).toContain(`data directory ${dir} is not writable by uid 1000`);
      expect(r.stdout).toContain(`chown -R 1000:1000 ${dir}`);
    },
  );

  it('a data directory that cannot be a directory (a file in its path) is named as such', async () => {
    const file = join(await res.tempDir('warren-docker-'), 'a-file');
    writeFileSync(file, '');
    const r = dockerRunSync([], imageEnv(join(file, 'data')));
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(`data directory ${join(file, 'data')} cannot be created: part of its path is a file`);
  });

  it('the HEALTHCHECK fails when nothing speaks AMQP on the port', async () => {
    const b = await spawnBroker({ dataDir: await res.tempDir('warren-docker-') });
    const port = b.port;
    await b.stop();
    const health = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/healthcheck.js'), String(port)], { encoding: 'utf8' });
    expect(health.status).toBe(1);
  });
});
