// amqps: amqplib over TLS with a certificate authority and certificates the test makes, with and
// without client-certificate verification; TLS below 1.2 is refused.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/index.js';

let dir: string;
const f = (name: string): string => join(dir, name);
const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: 'pipe' });
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=warren-test-ca');
  const leaf = (name: string, cn: string, ext: string): void => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '1', '-extfile', f(`${name}.ext`));
  };
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  leaf('client', 'warren-client', 'extendedKeyUsage=clientAuth\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('amqps', () => {
  it('serves amqplib over TLS, verifying the server against the test CA', async () => {
    const b = await startBroker({ tlsPort: 0, tlsCert: f('server.pem'), tlsKey: f('server.key') });
    expect(b.tlsPort).toBeGreaterThan(0);
    const conn = await amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))] });
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('over tls'));
    const m = await new Promise<string>((r) => void ch.consume(q, (x) => x && r(x.content.toString()), { noAck: true }));
    expect(m).toBe('over tls');
    await conn.close();
    await b.close();
  });

  it('large bodies published over TLS, held in pieces of its decrypted reads, come back byte for byte over TLS and plain TCP', async () => {
    const b = await startBroker({ port: 0, tlsPort: 0, tlsCert: f('server.pem'), tlsKey: f('server.key') });
    const tls = await amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))] });
    const plain = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    try {
      const pub = await tls.createConfirmChannel();
      await pub.assertQueue('big', { durable: false });
      const bodies = [300 * 1024 + 7, 1024 * 1024 + 3, 2 * 1024 * 1024 - 5, 256 * 1024].map((n) => randomBytes(n));
      // All published before any is consumed: each is held while later reads arrive.
      for (const body of bodies.concat(bodies)) pub.sendToQueue('big', body);
      await pub.waitForConfirms();
      const digest = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
      const want = bodies.map(digest);
      for (const conn of [tls, plain]) {
        const ch = await conn.createChannel();
        for (let i = 0; i < bodies.length; i++) {
          const m = await ch.get('big', { noAck: true });
          expect(m && digest(m.content)).toBe(want[i]);
        }
      }
    } finally {
      await tls.close();
      await plain.close();
      await b.close();
    }
  });

  it('with peer verification, refuses a client without a certificate and accepts one signed by the CA', async () => {
    const b = await startBroker({ tlsPort: 0, tlsCert: f('server.pem'), tlsKey: f('server.key'), tlsCa: f('ca.pem'), tlsVerifyPeer: true });
    await expect(amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))] })).rejects.toThrow();
    const conn = await amqp.connect(`amqps://localhost:${b.tlsPort}`, {
      ca: [readFileSync(f('ca.pem'))],
      cert: readFileSync(f('client.pem')),
      key: readFileSync(f('client.key')),
    });
    const ch = await conn.createChannel();
    await ch.assertQueue('', { exclusive: true });
    await conn.close();
    await b.close();
  });

  it('verify_peer without fail_if_no_peer_cert (RabbitMQ\'s default): no certificate is let in, one the CA did not sign is not', async () => {
    const b = await startBroker({ tlsPort: 0, tlsCert: f('server.pem'), tlsKey: f('server.key'), tlsCa: f('ca.pem'), tlsVerifyPeer: true, tlsFailIfNoPeerCert: false });
    try {
      const bare = await amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))] });
      await (await bare.createChannel()).assertQueue('', { exclusive: true });
      await bare.close();
      const signed = await amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))], cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) });
      await signed.close();
      // A certificate of its own making: sent, and refused.
      openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('rogue.key'), '-out', f('rogue.pem'), '-days', '1', '-subj', '/CN=rogue');
      await expect(
        amqp.connect(`amqps://localhost:${b.tlsPort}`, { ca: [readFileSync(f('ca.pem'))], cert: readFileSync(f('rogue.pem')), key: readFileSync(f('rogue.key')) }),
      ).rejects.toThrow();
    } finally {
      await b.close();
    }
  });

  it('serves the management API over HTTPS beside HTTP, or alone (management.ssl.*)', async () => {
    const get = (port: number, path: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', servername: 'localhost', port, path, ca: readFileSync(f('ca.pem')), headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const tls = { managementTlsPort: -1, managementTlsCert: f('server.pem'), managementTlsKey: f('server.key'), managementTlsCa: f('ca.pem') };
    const both = await startBroker({ managementPort: -1, ...tls });
    try {
      expect(both.managementTlsPort).toBeGreaterThan(0);
      const overHttps = await get(both.managementTlsPort, '/api/whoami');
      expect([overHttps.status, JSON.parse(overHttps.body)]).toEqual([200, { name: 'guest', tags: ['administrator'] }]);
      expect((await fetch(`http://127.0.0.1:${both.managementPort}/api/whoami`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } })).status).toBe(200);
      // The same app behind both: a vhost made over HTTP is there over HTTPS.
      await fetch(`http://127.0.0.1:${both.managementPort}/api/vhosts/over-http`, { method: 'PUT', headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      expect((await get(both.managementTlsPort, '/api/vhosts/over-http')).status).toBe(200);
      // Health checks see the HTTPS listener as rabbit_networking names it.
      const https = await get(both.managementTlsPort, '/api/health/checks/protocol-listener/https');
      expect([https.status, JSON.parse(https.body)]).toEqual([200, { status: 'ok', protocol: 'https' }]);
      expect((await get(both.managementTlsPort, `/api/health/checks/port-listener/${both.managementTlsPort}`)).status).toBe(200);
    } finally {
      await both.close();
    }
    const alone = await startBroker({ managementPort: 0, ...tls });
    try {
      expect(alone.managementPort).toBe(0);
      expect((await get(alone.managementTlsPort, '/api/overview')).status).toBe(200);
    } finally {
      await alone.close();
    }
  });

  it('refuses TLS 1.1', async () => {
    const b = await startBroker({ tlsPort: 0, tlsCert: f('server.pem'), tlsKey: f('server.key') });
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ port: b.tlsPort, host: '127.0.0.1', maxVersion: 'TLSv1.1', minVersion: 'TLSv1', rejectUnauthorized: false });
      s.once('secureConnect', () => {
        resolve('connected');
        s.destroy();
      });
      s.once('error', () => resolve('refused'));
    });
    expect(outcome).toBe('refused');
    await b.close();
  });
});
