/**
 * Helpers for e2e tests of the management HTTP API, warren ctl and access control:
 * a small fetch-based API client, RabbitMQ password hashing, a free-port finder,
 * a Prometheus text-format parser and amqplib error helpers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import net from 'node:net';
import type { Channel, ChannelModel } from 'amqplib';
import { CLI_PATH, REPO_ROOT } from './broker-process.js';
import { sleep } from './async.js';
export { sleep, withTimeout } from './async.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body (undefined when the body is empty or not JSON). */
  json: T;
}

export interface ApiOptions {
  /** [user, password]; null sends no Authorization header. Default guest/guest. */
  auth?: [string, string] | null;
  body?: unknown;
  /** Sent as it is, with content-type application/json (for bodies that are not JSON). */
  rawBody?: string;
  /** The body's content type: application/json unless given; null sends none (bytes, as clients without one do). */
  contentType?: string | null;
  headers?: Record<string, string>;
}

export function basicAuth(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

/** A management API client bound to one base URL. */
export function apiClient(baseUrl: string) {
  return async function api<T = any>(method: string, path: string, opts: ApiOptions = {}): Promise<ApiResponse<T>> {
    const auth = opts.auth === undefined ? (['guest', 'guest'] as [string, string]) : opts.auth;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (auth) headers.authorization = basicAuth(auth[0], auth[1]);
    let body: string | Uint8Array | undefined;
    if (opts.body !== undefined || opts.rawBody !== undefined) {
      body = opts.rawBody ?? JSON.stringify(opts.body);
      // fetch gives a string body text/plain of its own: bytes go with no content type.
      if (opts.contentType === null) body = Buffer.from(body);
      else headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let json: any;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

export type Api = ReturnType<typeof apiClient>;

/** URL path segment encoding as RabbitMQ's API expects it ('/' → %2F). */
export const enc = encodeURIComponent;

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt4 ++ sha256(salt4 ++ password)). */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256').update(Buffer.concat([salt, Buffer.from(password, 'utf8')])).digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}


/** Polls an async condition until it is truthy. */
export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 5000, giveUp?: () => boolean): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (giveUp?.()) throw new Error(`gave up waiting for ${what} (last: ${String(last)})`);
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await sleep(25);
  }
}

/** Resolves with the error a connection is closed with (null when closed cleanly). */
export function connectionClosed(conn: ChannelModel): Promise<(Error & { code?: number }) | null> {
  return new Promise((resolve) => conn.once('close', (err?: Error & { code?: number }) => resolve(err ?? null)));
}

/** Resolves with the first error a channel gets (its channel.close from the server). */
export function channelError(ch: Channel): Promise<Error & { code?: number }> {
  return new Promise((resolve) => ch.once('error', (err: Error & { code?: number }) => resolve(err)));
}

// ---------------------------------------------------------------- Prometheus text format

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromParse {
  samples: PromSample[];
  help: Map<string, string>;
  types: Map<string, string>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Values as Prometheus's own parser reads them (Go's strconv.ParseFloat: NaN/Inf case-insensitive). */
function parseValue(s: string): number {
  if (/^nan$/i.test(s)) return NaN;
  if (/^\+?inf(inity)?$/i.test(s)) return Infinity;
  if (/^-inf(inity)?$/i.test(s)) return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad sample value '${s}'`);
  return Number(s);
}

/**
 * Parses Prometheus text exposition format 0.0.4 strictly: every line must be a
 * '# HELP name text', '# TYPE name type', another comment, a blank line, or
 * 'name{label="value",...} value [timestamp]'. Throws on the first bad line.
 */
export function parsePrometheus(text: string): PromParse {
  const samples: PromSample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`malformed ${where}`);
        return; // plain comment
      }
      const [, kind, name, rest] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`bad metric name in ${where}`);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest ?? '')) throw new Error(`bad TYPE in ${where}`);
        if (types.has(name!)) throw new Error(`duplicate TYPE for ${name} at ${where}`);
        types.set(name!, rest!);
      } else {
        help.set(name!, rest ?? '');
      }
      return;
    }
    // name{labels} value [timestamp]
    let pos = 0;
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`bad sample name in ${where}`);
    const name = nameMatch[0];
    pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      for (;;) {
        if (line[pos] === '}') {
          pos++;
          break;
        }
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
        if (!ln || !LABEL_NAME.test(ln[0])) throw new Error(`bad label name in ${where}`);
        pos += ln[0].length;
        if (line[pos] !== '=' || line[pos + 1] !== '"') throw new Error(`expected ="..." in ${where}`);
        pos += 2;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new Error(`unterminated label value in ${where}`);
          if (c === '\\') {
            const n = line[pos + 1];
            if (n === 'n') value += '\n';
            else if (n === '\\') value += '\\';
            else if (n === '"') value += '"';
            else throw new Error(`bad escape in ${where}`);
            pos += 2;
            continue;
          }
          if (c === '"') {
            pos++;
            break;
          }
          value += c;
          pos++;
        }
        if (ln[0] in labels) throw new Error(`duplicate label ${ln[0]} in ${where}`);
        labels[ln[0]] = value;
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') throw new Error(`expected , or } in ${where}`);
      }
    }
    if (line[pos] !== ' ') throw new Error(`expected a space before the value in ${where}`);
    const rest = line.slice(pos + 1).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2) throw new Error(`bad value/timestamp in ${where}`);
    const value = parseValue(rest[0]!);
    if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) throw new Error(`bad timestamp in ${where}`);
    samples.push({ name, labels, value });
  });
  return { samples, help, types };
}

/** The family a sample belongs to (histogram/summary samples carry suffixes). */
export function familyOf(sampleName: string, types: Map<string, string>): string | undefined {
  if (types.has(sampleName)) return sampleName;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length);
      if (types.has(base)) return base;
    }
  }
  return undefined;
}

export function sampleValue(p: PromParse, name: string, labels: Record<string, string> = {}): number | undefined {
  const s = p.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

// ---------------------------------------------------------------- warren ctl

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js ctl --url <url> ...args`. */
export function runCtl(url: string, args: string[], extra: string[] = []): Promise<CtlResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_PATH, 'ctl', '--url', url, ...extra, ...args],
      { cwd: REPO_ROOT, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code: unknown = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === 'number' ? code : err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/**
 * rabbitmqctl-style table output: the header line (the first line whose cells are exactly
 * `header`) and the tab-separated rows after it.
 */
export function ctlTable(stdout: string, header: string[]): { header: string[]; rows: string[][] } | null {
  const lines = stdout.split('\n').filter((l) => l !== '');
  const i = lines.findIndex((l) => l === header.join('\t'));
  if (i < 0) return null;
  return { header, rows: lines.slice(i + 1).map((l) => l.split('\t')) };
}
