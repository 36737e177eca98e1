// The configuration file: RabbitMQ's rabbitmq.conf format (`key = value` lines, # comments) with
// its keys where they map onto Warren's options, or JSON with Warren's own option names. Unknown
// keys and invalid values are errors that name the line.
import { readFileSync } from 'node:fs';

export type ConfigValues = Record<string, string | number | boolean | string[]>;

/** Information units as rabbitmq.conf and rabbitmqctl take them: kB, MB, GB in 1000s, kiB, MiB, GiB in 1024s. */
const SIZE_UNITS: Record<string, number> = { '': 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

export function size(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`'${v}' is not a size (e.g. 50000000, 50MB, 2GiB)`);
  return Math.round(Number(m[1]) * unit);
}
function int(v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`'${v}' is not a non-negative integer`);
  return Number(v);
}
function bool(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`'${v}' is not true or false`);
}
/** "5672" or "127.0.0.1:5672" or "::1:5672" */
function listener(v: string): { port: number; host?: string } {
  const i = v.lastIndexOf(':');
  if (i < 0) return { port: int(v) };
  return { host: v.slice(0, i), port: int(v.slice(i + 1)) };
}

type Apply = (out: ConfigValues, value: string, key: string) => void;

const set =
  (option: string, parse: (v: string) => string | number | boolean = (v) => v): Apply =>
  (out, value) => {
    out[option] = parse(value);
  };

/** rabbitmq.conf keys Warren understands, and the option each sets. */
const KEYS: Record<string, Apply> = {
  'listeners.tcp.default': (out, v) => {
    const l = listener(v);
    out.port = l.port;
    if (l.host) out.host = l.host;
  },
  'listeners.ssl.default': (out, v) => {
    out['tls-port'] = listener(v).port;
  },
  default_user: set('default-user'),
  default_pass: set('default-pass'),
  heartbeat: set('heartbeat', int),
  frame_max: set('frame-max', int),
  channel_max: set('channel-max', int),
  max_message_size: set('max-message-size', size),
  handshake_timeout: set('handshake-timeout', int),
  connection_max: set('max-connections', (v) => (v === 'infinity' ? Number.MAX_SAFE_INTEGER : int(v))),
  'vm_memory_high_watermark.relative': set('memory-high-watermark', (v) => {
    const n = Number(v);
    if (!(n > 0 && n <= 1)) throw new Error(`'${v}' is not a fraction in (0, 1]`);
    return n;
  }),
  'vm_memory_high_watermark.absolute': set('memory-high-watermark', size),
  'disk_free_limit.absolute': set('disk-free-limit', size),
  'ssl_options.certfile': set('tls-cert'),
  'ssl_options.keyfile': set('tls-key'),
  'ssl_options.cacertfile': set('tls-ca'),
  'ssl_options.verify': set('tls-verify-peer', (v) => {
    if (v !== 'verify_peer' && v !== 'verify_none') throw new Error(`'${v}' is not verify_peer or verify_none`);
    return v === 'verify_peer';
  }),
  'ssl_options.fail_if_no_peer_cert': set('tls-fail-if-no-peer-cert', bool),
  'management.tcp.port': set('management-port', int),
  'management.tcp.ip': set('management-host'),
  'management.ssl.port': set('management-tls-port', int),
  'management.ssl.ip': set('management-tls-host'),
  'management.ssl.certfile': set('management-tls-cert'),
  'management.ssl.keyfile': set('management-tls-key'),
  'management.ssl.cacertfile': set('management-tls-ca'),
  // rabbitmq_prometheus' keys; -1 turns the endpoint off (Warren's, as --prometheus-port -1).
  'prometheus.tcp.port': set('prometheus-port', (v) => (v === '-1' ? -1 : int(v))),
  'prometheus.tcp.ip': set('prometheus-host'),
  'prometheus.return_per_object_metrics': set('prometheus-per-object', bool),
  load_definitions: set('load-definitions'),
  // RabbitMQ's consumer_timeout, in ms; 0 turns the broker-wide timeout off.
  consumer_timeout: set('consumer-timeout', int),
  'log.console.level': set('log-level'),
  'log.default.level': set('log-level'),
  loopback_users: (out, v) => {
    if (v !== 'none') throw new Error(`'${v}' is not 'none' (use loopback_users.<user> = true|false)`);
    out['loopback-users'] = [];
  },
  // rabbitmq_event_exchange's vhost; Warren's event_exchange = true stands for enabling the plugin.
  'event_exchange.vhost': set('event-exchange-vhost'),
  event_exchange: set('event-exchange', bool),
  // Warren's own keys, in the same style.
  data_dir: set('data-dir'),
  fsync: set('fsync', bool),
  page_out_messages: set('page-out-messages', int),
  page_out_bytes: set('page-out-bytes', size),
  // RabbitMQ's message store file size; Warren's body files (body-files.ts).
  msg_store_file_size_limit: set('body-file-size', size),
  body_compaction_interval: set('body-compaction-interval', int),
  journal_size: set('journal-size', size),
  dead_letter_retry_interval: set('dead-letter-retry-interval', int),
};

export function parseConfigFile(path: string): ConfigValues {
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.json')) return JSON.parse(text) as ConfigValues;
  const out: ConfigValues = {};
  const loopback = new Set<string>(['guest']);
  let loopbackSet = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const where = `${path} line ${i + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`${where}: expected 'key = value'`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    try {
      const lb = /^loopback_users\.(.+)$/.exec(key);
      if (lb) {
        loopbackSet = true;
        if (bool(value)) loopback.add(lb[1]!);
        else loopback.delete(lb[1]!);
        return;
      }
      const apply = KEYS[key];
      if (!apply) throw new Error(`unknown key '${key}'`);
      apply(out, value, key);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  });
  if (loopbackSet && out['loopback-users'] === undefined) out['loopback-users'] = [...loopback];
  // RabbitMQ's (Erlang's) default: verify_peer alone verifies a certificate a client sends and lets
  // one without a certificate in.
  if (out['tls-verify-peer'] === true && out['tls-fail-if-no-peer-cert'] === undefined) out['tls-fail-if-no-peer-cert'] = false;
  return out;
}
