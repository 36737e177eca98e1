// The Prometheus endpoint in rabbitmq_prometheus' shape, on its own port (15692 by default):
// /metrics, /metrics/per-object and /metrics/detailed, text format 0.0.4, gzip when asked for.
// Composed by the entry (index.ts, cli.ts) beside the broker; the broker does not know of it.
import { Buffer } from 'node:buffer';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Broker } from '../server/broker.js';
import { boundPort, listenOn } from '../server/listen.js';
import { detailedEndpoint, metricsEndpoint, perObjectEndpoint } from './endpoints.js';
import { CONTENT_TYPE, render, type Family } from './exposition.js';

const gzipped = promisify(gzip);

export interface PrometheusOptions {
  /** TCP port: 15692 as RabbitMQ's plugin; 0 picks a free one; -1 turns the endpoint off. */
  prometheusPort: number;
  prometheusHost: string;
  /** RabbitMQ's prometheus.return_per_object_metrics: /metrics labels every object too. */
  prometheusPerObject: boolean;
}

export const defaultPrometheusOptions: PrometheusOptions = { prometheusPort: 15692, prometheusHost: '0.0.0.0', prometheusPerObject: false };

export interface PrometheusServer {
  port: number;
  close(): Promise<void>;
}

function route(broker: Broker, url: URL, perObject: boolean): Promise<Family[]> | null {
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '/metrics') return metricsEndpoint(broker, perObject);
  if (path === '/metrics/per-object') return perObjectEndpoint(broker);
  if (path === '/metrics/detailed') {
    const vhosts = url.searchParams.getAll('vhost');
    return detailedEndpoint(broker, { families: url.searchParams.getAll('family'), vhosts: vhosts.length > 0 ? vhosts : null });
  }
  return null;
}

async function respond(broker: Broker, req: IncomingMessage, res: ServerResponse, perObject: boolean): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const families = route(broker, new URL(req.url ?? '/', 'http://localhost'), perObject);
  if (!families) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
    return;
  }
  const text = Buffer.from(render(await families));
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gz ? await gzipped(text) : text;
  res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-encoding': gz ? 'gzip' : 'identity', 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Listens for Prometheus' scrapes; logs the port as the management API logs its own. */
export async function startPrometheus(broker: Broker, options: Pick<PrometheusOptions, 'prometheusPort' | 'prometheusHost'> & Partial<PrometheusOptions>): Promise<PrometheusServer> {
  const perObject = options.prometheusPerObject ?? false;
  const server = createServer((req, res) => {
    respond(broker, req, res, perObject).catch((err: unknown) => {
      broker.log.error({ err }, 'prometheus scrape failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });
  await listenOn(server, options.prometheusPort, options.prometheusHost);
  server.on('error', (err) => broker.log.error({ err }, 'prometheus server error'));
  const port = boundPort(server, options.prometheusPort);
  broker.log.info({ port, host: options.prometheusHost }, 'prometheus listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
