// The Dockerfile, without a Docker engine: linted for the rules the image promises (multi-stage,
// non-root, health check, ports, volume, pinned bases), and its run-time commands exercised as
// plain commands: the CMD with the image's environment, and the AMQP-level HEALTHCHECK.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, REPO_ROOT, spawnBroker } from '../helpers/broker-process.js';

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

describe('Dockerfile lint', () => {
  it('is multi-stage with pinned base images', () => {
    const froms = instructions.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) {
      expect(f.args).toMatch(/^[\w./-]+:[\w.-]+/); // a tag is given
      expect(f.args).not.toMatch(/:latest\b/);
    }
    expect(finalStage.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
  });

  it('runs as a non-root user with data on a volume, the ports exposed, and a health check', () => {
    const user = finalStage.filter((i) => i.op === 'USER').pop();
    expect(user?.args).toBeDefined();
    expect(['root', '0']).not.toContain(user!.args);
    expect(finalStage.some((i) => i.op === 'VOLUME' && i.args.includes('/var/lib/warren'))).toBe(true);
    const exposed = finalStage.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(['5672', '5671', '15672']));
    expect(finalStage.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('dist/healthcheck.js'))).toBe(true);
    // exec form, so signals reach node (SIGTERM → clean shutdown)
    expect(finalStage.find((i) => i.op === 'CMD')?.args).toMatch(/^\[/);
  });

  it('copies everything the build needs (the prepare script builds server and UI)', () => {
    const build = instructions.slice(0, instructions.map((i) => i.op).lastIndexOf('FROM'));
    const copied = build.filter((i) => i.op === 'COPY').map((i) => i.args).join(' ');
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'scripts', 'ui']) expect(copied).toContain(needed);
    expect(finalStage.map((i) => i.args).join(' ')).toContain('ui/dist');
  });
});

describe('the image commands, run as plain commands', () => {
  it('CMD with the image environment starts a broker that the HEALTHCHECK finds healthy', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-docker-'));
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', WARREN_DATA_DIR: dataDir, WARREN_HOST: '127.0.0.1' };
    for (const i of finalStage.filter((x) => x.op === 'ENV')) {
      for (const m of i.args.matchAll(/(\w+)=(\S*)/g)) if (m[1] !== 'WARREN_DATA_DIR' && m[1] !== 'WARREN_HOST') env[m[1]!] = m[2]!;
    }
    env.WARREN_PORT = '0';
    env.WARREN_MANAGEMENT_PORT = '0';
    const proc = spawn(process.execPath, [CLI_PATH], { env, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"port":(\d+),"host"[^\n]*"msg":"listening"/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
      });
      const health = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/healthcheck.js'), String(port)], { encoding: 'utf8' });
      expect(health.status, health.stderr).toBe(0);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the HEALTHCHECK fails when nothing speaks AMQP on the port', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-docker-'));
    const b = await spawnBroker({ dataDir });
    const port = b.port;
    await b.stop();
    rmSync(dataDir, { recursive: true, force: true });
    const health = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/healthcheck.js'), String(port)], { encoding: 'utf8' });
    expect(health.status).toBe(1);
  });
});
