// `warren ctl`'s requests to the management API, by node:http(s) rather than fetch: fetch's first
// use in a process loads undici and compiles its WebAssembly HTTP parser, 0.3 s of a ctl call that
// otherwise takes 0.15 s (ctl is run by the dozen from scripts and health checks).
import { Buffer } from 'node:buffer';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ApiAnswer {
  status: number;
  text: string;
}

/** The request took longer than its timeoutMs. */
export class ApiTimeout extends Error {}

/** One request to base + path as user:pass; rejects only when the broker cannot be reached (or does not answer within timeoutMs). */
export function apiRequest(
  base: string,
  user: string,
  pass: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number | undefined } = {},
): Promise<ApiAnswer> {
  const url = new URL(base.replace(/\/$/, '') + path);
  const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = {
    authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64'),
    ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
    ...opts.headers,
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      const timer = setTimeout(() => req.destroy(new ApiTimeout(`no answer within ${ms} ms`)), ms);
      req.on('close', () => clearTimeout(timer));
    }
    req.end(body);
  });
}
