// The web UI: static files built from ui/ (Vite) into ui/dist, served from the management port.
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const UI_DIR = fileURLToPath(new URL('../../ui/dist/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

export function registerUi(app: FastifyInstance, apiNotFound: (req: FastifyRequest, reply: FastifyReply) => FastifyReply): void {
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if (path.startsWith('/api/')) return apiNotFound(req, reply);
    const rel = normalize(path === '/' ? 'index.html' : path.slice(1));
    const file = join(UI_DIR, rel);
    if (rel.startsWith('..') || !existsSync(file)) {
      if (!existsSync(join(UI_DIR, 'index.html'))) {
        return reply.code(404).type('text/plain').send('The web UI is not built (npm run build:ui).');
      }
      return reply.code(404).type('text/plain').send('Not found');
    }
    return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').send(readFileSync(file));
  });
}
