// RabbitMQ's health-check endpoints and aliveness test, with the bodies and codes RabbitMQ 3.10.8's
// management plugin gave on a node of our own (200 {"status":"ok",…}, 503 {"status":"failed",…}).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, eventually, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
const dir = mkdtempSync(join(tmpdir(), 'warren-health-'));

beforeAll(async () => {
  broker = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', dataDir: join(dir, 'data') });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
});

afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('health checks', () => {
  it('pass with RabbitMQ bodies on a healthy node', async () => {
    for (const path of ['/api/health/checks/alarms', '/api/health/checks/local-alarms', '/api/health/checks/virtual-hosts', '/api/health/checks/certificate-expiration/1/months', '/api/aliveness-test/%2F']) {
      const r = await api('GET', path);
      expect(r.status, path).toBe(200);
      expect(r.json, path).toEqual({ status: 'ok' });
    }
    expect((await api('GET', `/api/health/checks/port-listener/${broker.port}`)).json).toEqual({ status: 'ok', port: broker.port });
    expect((await api('GET', '/api/health/checks/protocol-listener/amqp')).json).toEqual({ status: 'ok', protocol: 'amqp' });
    expect((await api('GET', '/api/health/checks/node-is-quorum-critical')).json).toEqual({ status: 'ok', reason: 'single node cluster' });
  });

  it('fail with 503 and what is missing', async () => {
    const port = await api('GET', '/api/health/checks/port-listener/1');
    expect(port.status).toBe(503);
    expect(port.json).toEqual({ status: 'failed', reason: 'No active listener', missing: 1, ports: [broker.port, broker.managementPort] });
    const proto = await api('GET', '/api/health/checks/protocol-listener/mqtt');
    expect(proto.status).toBe(503);
    expect(proto.json).toEqual({ status: 'failed', reason: 'No active listener', missing: 'mqtt', protocols: ['amqp', 'http'] });
    expect((await api('GET', '/api/health/checks/certificate-expiration/1/fortnights')).status).toBe(400);
    expect((await api('GET', '/api/aliveness-test/nosuch')).status).toBe(404);
    expect((await api('GET', '/api/health/checks/alarms', { auth: ['guest', 'wrong'] })).status).toBe(401);
  });

  it('report a resource alarm as RabbitMQ does', async () => {
    const alarmed = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', dataDir: join(dir, 'alarmed'), diskFreeLimit: Number.MAX_SAFE_INTEGER });
    try {
      const a = apiClient(`http://127.0.0.1:${alarmed.managementPort}`);
      await eventually(async () => {
        const r = await a('GET', '/api/health/checks/local-alarms');
        expect(r.status).toBe(503);
        expect(r.json).toEqual({ status: 'failed', reason: 'There are alarms in effect on the node', alarms: [{ node: alarmed.broker.nodeName, resource: 'disk space' }] });
        return true;
      }, 'the disk alarm');
      const all = await a('GET', '/api/health/checks/alarms');
      expect(all.status).toBe(503);
      expect(all.json.reason).toBe('There are alarms in effect in the cluster');
    } finally {
      await alarmed.close();
    }
  });

  it('certificate-expiration fails for a TLS certificate that expires within the window', async () => {
    const f = (n: string): string => join(dir, n);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('k.pem'), '-out', f('c.pem'), '-days', '10', '-subj', '/CN=localhost'], { stdio: 'pipe' });
    const tls = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', tlsPort: 0, tlsCert: f('c.pem'), tlsKey: f('k.pem') });
    try {
      const a = apiClient(`http://127.0.0.1:${tls.managementPort}`);
      expect((await a('GET', '/api/health/checks/certificate-expiration/1/days')).json).toEqual({ status: 'ok' });
      const r = await a('GET', '/api/health/checks/certificate-expiration/1/months');
      expect(r.status).toBe(503);
      expect(r.json.reason).toBe('Certificates expiring');
      expect(r.json.expired[0].certfile).toBe(f('c.pem'));
      expect((await a('GET', '/api/health/checks/protocol-listener/amqp%2Fssl')).status).toBe(200);
    } finally {
      await tls.close();
    }
    // The management API's own HTTPS certificate is checked too (no amqps listener here).
    const mgmt = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', managementTlsPort: -1, managementTlsCert: f('c.pem'), managementTlsKey: f('k.pem') });
    try {
      const a = apiClient(`http://127.0.0.1:${mgmt.managementPort}`);
      const r = await a('GET', '/api/health/checks/certificate-expiration/1/months');
      expect(r.status).toBe(503);
      expect(r.json.expired.map((e: { protocol: string; port: number; certfile: string }) => [e.protocol, e.port, e.certfile])).toEqual([['https', mgmt.managementTlsPort, f('c.pem')]]);
    } finally {
      await mgmt.close();
    }
  });
});
