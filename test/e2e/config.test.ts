// The configuration file: rabbitmq.conf keys mapped onto Warren's options, errors that name the
// line, and a definitions file loaded at boot, exercised through the real CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigFile } from '../../src/config-file.js';
import { CLI_PATH, spawnBroker } from '../helpers/broker-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('rabbitmq.conf', () => {
  it('maps RabbitMQ keys onto Warren options', () => {
    const f = write(
      'a.conf',
      [
        '# comment',
        'listeners.tcp.default = 127.0.0.1:5673',
        'default_user = admin',
        'default_pass = s3cret',
        'heartbeat = 30',
        'vm_memory_high_watermark.absolute = 2GB',
        'disk_free_limit.absolute = 50MB',
        'loopback_users.guest = false',
        'management.tcp.port = 15673',
        // php-amqplib's test configuration has all of these.
        'management.ssl.port = 15671',
        'management.ssl.certfile = /certs/server.pem',
        'management.ssl.keyfile = /certs/server.key',
        'management.ssl.cacertfile = /certs/ca.pem',
        'ssl_options.verify = verify_peer',
        'connection_max = infinity',
        'page_out_messages = 1000',
        'page_out_bytes = 8MB',
        'msg_store_file_size_limit = 16777216',
        'body_compaction_interval = 5000',
        'journal_size = 64MB',
      ].join('\n'),
    );
    expect(parseConfigFile(f)).toEqual({
      port: 5673,
      host: '127.0.0.1',
      'default-user': 'admin',
      'default-pass': 's3cret',
      heartbeat: 30,
      'memory-high-watermark': 2_000_000_000,
      'disk-free-limit': 50_000_000,
      'loopback-users': [],
      'management-port': 15673,
      'management-tls-port': 15671,
      'management-tls-cert': '/certs/server.pem',
      'management-tls-key': '/certs/server.key',
      'management-tls-ca': '/certs/ca.pem',
      'tls-verify-peer': true,
      // RabbitMQ's default with verify_peer: a client without a certificate is let in.
      'tls-fail-if-no-peer-cert': false,
      'max-connections': Number.MAX_SAFE_INTEGER,
      'page-out-messages': 1000,
      'page-out-bytes': 8_000_000,
      'body-file-size': 16_777_216,
      'body-compaction-interval': 5000,
      'journal-size': 64_000_000,
    });
  });

  it('ssl_options.fail_if_no_peer_cert = true refuses clients without a certificate, as its flag does', () => {
    expect(parseConfigFile(write('v.conf', 'ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n'))).toEqual({
      'tls-verify-peer': true,
      'tls-fail-if-no-peer-cert': true,
    });
    const r = spawnSync(process.execPath, [CLI_PATH, '--management-tls-port', '15671'], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/--management-tls-port needs --management-tls-cert and --management-tls-key/)]);
    const r2 = spawnSync(process.execPath, [CLI_PATH, '--management-tls-cert', 'x.pem'], { encoding: 'utf8' });
    expect([r2.status, r2.stderr]).toEqual([1, expect.stringMatching(/--management-tls-cert needs --management-tls-port/)]);
    const r3 = spawnSync(process.execPath, [CLI_PATH, '--journal-size', '-1'], { encoding: 'utf8' });
    expect([r3.status, r3.stderr]).toEqual([1, expect.stringMatching(/--journal-size must be 0 \(no journal\) or a number of bytes/)]);
  });

  it('refuses unknown keys and bad values, naming the line', () => {
    expect(() => parseConfigFile(write('b.conf', 'heartbeat = 10\nbogus.key = 1\n'))).toThrow(/b\.conf line 2: unknown key 'bogus\.key'/);
    expect(() => parseConfigFile(write('c.conf', 'heartbeat = soon\n'))).toThrow(/line 1: 'soon' is not a non-negative integer/);
    const r = spawnSync(process.execPath, [CLI_PATH, '--config', join(dir, 'b.conf')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown key 'bogus\.key'/);
  });

  it('fsyncs by default; --no-fsync, WARREN_FSYNC=false and fsync = false opt out', async () => {
    const conf = write('nofsync.conf', 'fsync = false\n');
    const cases: [string[], NodeJS.ProcessEnv, boolean][] = [
      [[], {}, true],
      [['--no-fsync'], {}, false],
      [[], { WARREN_FSYNC: 'false' }, false],
      [['--config', conf], {}, false],
    ];
    for (const [args, env, fsync] of cases) {
      const dataDir = mkdtempSync(join(tmpdir(), 'warren-config-data-'));
      const b = await spawnBroker({ dataDir, args, env });
      try {
        const line = b.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('store: '));
        expect(line?.fsync, `${args.join(' ')} ${JSON.stringify(env)}`).toBe(fsync);
      } finally {
        await b.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  });

  it("a WARREN_* variable that names no option (ctl's WARREN_MANAGEMENT_URL) is ignored with a warning; an unknown flag is refused", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-config-env-'));
    const b = await spawnBroker({ dataDir, env: { WARREN_MANAGEMENT_URL: 'http://127.0.0.1:1', WARREN_NO_SUCH_OPTION: 'x', WARREN_HEARTBEAT: '17' } });
    try {
      const warning = b.logs().find((l) => l.level === 40 && Array.isArray(l.variables));
      expect(warning?.variables, b.output()).toEqual(expect.arrayContaining(['WARREN_MANAGEMENT_URL', 'WARREN_NO_SUCH_OPTION']));
      // The variables that do name an option still apply: the heartbeat it offers is 17 s.
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}?heartbeat=0`);
      try {
        expect((conn.connection as unknown as { heartbeat: number }).heartbeat).toBe(17);
      } finally {
        await conn.close();
      }
    } finally {
      await b.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    const r = spawnSync(process.execPath, [CLI_PATH, '--bogus-flag', '1'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Unknown arguments?: bogus-flag/);
  });

  it('a broker started with a config file and load_definitions uses both', async () => {
    const defs = write(
      'defs.json',
      JSON.stringify({
        vhosts: [{ name: '/' }],
        queues: [{ name: 'from-definitions', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-max-length': 5 } }],
        exchanges: [{ name: 'defs-ex', vhost: '/', type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} }],
        bindings: [{ source: 'defs-ex', vhost: '/', destination: 'from-definitions', destination_type: 'queue', routing_key: '', arguments: {} }],
      }),
    );
    const conf = write('d.conf', `default_user = admin\ndefault_pass = s3cret\nload_definitions = ${defs}\n`);
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-config-data-'));
    const b = await spawnBroker({ dataDir, args: ['--config', conf] });
    try {
      await expect(amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`)).rejects.toThrow();
      const conn = await amqp.connect(`amqp://admin:s3cret@127.0.0.1:${b.port}`);
      const ch = await conn.createConfirmChannel();
      ch.publish('defs-ex', '', Buffer.from('routed by a definition'));
      await ch.waitForConfirms();
      const m = await ch.get('from-definitions', { noAck: true });
      expect(m && m.content.toString()).toBe('routed by a definition');
      await conn.close();
    } finally {
      await b.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
