// Opens the byte stream an AMQP URI names: TCP, or TLS for amqps:// (with the URI's CA, certificate,
// key, verify and server_name_indication), within its connection_timeout.
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { AmqpUri } from './uri.js';

export function dial(uri: AmqpUri): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const opts = { host: uri.host, port: uri.port };
    const s = uri.tls
      ? tlsConnect({
          ...opts,
          servername: uri.serverName ?? uri.host,
          rejectUnauthorized: uri.verify,
          ...(uri.tlsFiles.ca ? { ca: readFileSync(uri.tlsFiles.ca) } : {}),
          ...(uri.tlsFiles.cert ? { cert: readFileSync(uri.tlsFiles.cert) } : {}),
          ...(uri.tlsFiles.key ? { key: readFileSync(uri.tlsFiles.key) } : {}),
        })
      : netConnect(opts);
    const timer = setTimeout(() => s.destroy(new Error(`connection to ${uri.host}:${uri.port} timed out`)), uri.connectTimeout);
    s.once(uri.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
