// Request bodies as RabbitMQ 3.10.8's management plugin takes them. Nearly every resource accepts
// any content type and reads the body as JSON (`{'*', accept_content}`): scripts and client
// libraries send JSON with no content type (php-amqplib's tests through Httpful), as a form
// (curl -d) or as text/plain, and RabbitMQ answers them as if it were application/json. A few take
// JSON only and answer anything else 415 with no body (vhost and user limits, operator policies);
// definitions take JSON or a multipart form whose `file` part is the JSON (`curl -F file=@defs.json`,
// the UI's upload), with an optional `redirect` part answered 303 to it once imported.
// No body at all, with or without content type, is an empty one: `{}`.
import { Buffer } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from './http-errors.js';

/** What a route's body may be, set as its `config.body`; 'any' when unset. */
export type BodyKind = 'any' | 'json' | 'definitions';

declare module 'fastify' {
  interface FastifyContextConfig {
    body?: BodyKind;
  }
}

/** A body that came with a content type other than JSON, kept raw until its route says what it takes. */
class RawBody {
  constructor(
    readonly contentType: string,
    readonly bytes: Buffer,
  ) {}
}

/** A definitions upload sent as a form: the `file` part (JSON text) and where to send the browser after. */
class DefinitionsForm {
  constructor(
    readonly file: unknown,
    readonly redirect: string | null,
  ) {}
}

const isJsonType = (type: string): boolean => /^application\/json\s*(;|$)/i.test(type);

export function registerRequestBodies(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  // Fastify's own text/plain parser would hand routes a string.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') done(null, {});
    else json(req, text, done);
  });
  // Any other content type, and none (a body without a content-type header): held raw here, and
  // read once the route is known (preValidation), since what it may be depends on the route.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    done(null, new RawBody(req.headers['content-type'] ?? '', Buffer.isBuffer(body) ? body : Buffer.from(body)));
  });
  app.addHook('preValidation', async (req, reply) => {
    if (req.method !== 'PUT' && req.method !== 'POST') return;
    const kind = bodyKind(req);
    const type = req.headers['content-type'] ?? '';
    if (kind !== 'any' && !isJsonType(type) && !(kind === 'definitions' && /^multipart\/form-data/i.test(type))) {
      // 3.10.8 (cowboy_rest): 415 with no body.
      return reply.code(415).send();
    }
    const body: unknown = req.body;
    if (body === undefined || body === null) req.body = {};
    else if (body instanceof RawBody && kind !== 'definitions') req.body = parseJson(body.bytes);
    else if (body instanceof RawBody) {
      const form = definitionsForm(body);
      // A body that is no multipart form: 3.10.8's 400 with no body.
      if (!form) return reply.code(400).send();
      req.body = form;
    }
  });
}

/** A definitions route's body: the definitions, and the form's redirect (null for a JSON body). */
export function definitionsUpload(body: unknown): { defs: unknown; redirect: string | null } {
  return body instanceof DefinitionsForm ? { defs: body.file, redirect: body.redirect } : { defs: body, redirect: null };
}

function bodyKind(req: FastifyRequest): BodyKind {
  return req.routeOptions.config?.body ?? 'any';
}

function parseJson(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('not_json');
  }
}

/**
 * A multipart/form-data definitions upload, null when the body is no such form. A form without a
 * `file` part, or whose part is not JSON, is 3.10.8's 400 "failed_to_parse_json".
 */
function definitionsForm(raw: RawBody): DefinitionsForm | null {
  const parts = formParts(raw.contentType, raw.bytes);
  if (!parts) return null;
  const file = parts.get('file');
  let defs: unknown;
  try {
    defs = JSON.parse(file ?? '') as unknown;
  } catch {
    throw badRequest('failed_to_parse_json');
  }
  return new DefinitionsForm(defs, parts.get('redirect') ?? null);
}

/** The named parts of a multipart/form-data body as text, or null when it is not one. */
function formParts(contentType: string, body: Buffer): Map<string, string> | null {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts = new Map<string, string>();
  let at = body.indexOf(delimiter);
  if (at < 0) return null;
  for (;;) {
    at += delimiter.length;
    // "--" after a delimiter closes the form.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts;
    const headersEnd = body.indexOf('\r\n\r\n', at);
    if (headersEnd < 0) return null;
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
    if (next < 0) return null;
    const name = /content-disposition:[^\r\n]*?\bname="([^"]*)"/i.exec(body.toString('utf8', at, headersEnd))?.[1];
    if (name !== undefined && !parts.has(name)) parts.set(name, body.toString('utf8', headersEnd + 4, next));
    at = next + 2;
  }
}
