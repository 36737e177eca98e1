// AMQP URIs as a shovel's src-uri and dest-uri give them (RabbitMQ's amqp_uri): amqp://user:pass@host:port/vhost?query,
// amqps:// for TLS, and amqp:// with no host for this broker itself (a direct connection).
export interface AmqpUri {
  /** The text as given. */
  readonly text: string;
  /** No host: this broker, in-process (Broker.connectDirect). */
  readonly direct: boolean;
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly pass: string;
  /** null: the URI names none (the shovel's own vhost is used, as RabbitMQ's amqp_uri:parse/2). */
  readonly vhost: string | null;
  /** Seconds (?heartbeat=), 0 for none. */
  readonly heartbeat: number;
  /** ms (?connection_timeout=). */
  readonly connectTimeout: number;
  /** ?cacertfile=, ?certfile=, ?keyfile=, ?verify=verify_none|verify_peer, ?server_name_indication=. */
  readonly tlsFiles: { ca?: string; cert?: string; key?: string };
  readonly verify: boolean;
  readonly serverName: string | undefined;
}

/** Why a URI does not parse, as an Erlang term in amqp_uri's words. */
export class UriError extends Error {}

const DEFAULT_HEARTBEAT = 10;

export function parseAmqpUri(text: string): AmqpUri {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  if (!scheme) throw new UriError(`{{unable_to_parse_uri,no_scheme},${JSON.stringify(text)}}`);
  const s = scheme[1]!.toLowerCase();
  if (s !== 'amqp' && s !== 'amqps') throw new UriError(`{{unexpected_uri_scheme,${JSON.stringify(scheme[1])}},${JSON.stringify(text)}}`);
  const malformed = (): UriError => new UriError(`{{unable_to_parse_uri,malformed_uri},${JSON.stringify(text)}}`);
  const rest = text.slice(scheme[0].length);
  const q = rest.indexOf('?');
  const beforeQuery = q < 0 ? rest : rest.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  const slash = beforeQuery.indexOf('/');
  const authority = slash < 0 ? beforeQuery : beforeQuery.slice(0, slash);
  const path = slash < 0 ? null : beforeQuery.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? null : authority.slice(0, at);
  const hostport = at < 0 ? authority : authority.slice(at + 1);
  if (userinfo?.includes('@')) throw malformed();
  let host = hostport;
  let port = s === 'amqps' ? 5671 : 5672;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport);
  if (!m) throw malformed();
  host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  if (m[2] !== undefined && m[2] !== '') {
    if (!/^[0-9]+$/.test(m[2]) || Number(m[2]) > 65535) throw malformed();
    port = Number(m[2]);
  }
  let user = 'guest';
  let pass = 'guest';
  try {
    if (userinfo !== null) {
      const c = userinfo.indexOf(':');
      user = decodeURIComponent(c < 0 ? userinfo : userinfo.slice(0, c));
      pass = c < 0 ? '' : decodeURIComponent(userinfo.slice(c + 1));
    }
  } catch {
    throw malformed();
  }
  let vhost: string | null = null;
  if (path !== null) {
    if (path.includes('/')) throw malformed();
    try {
      vhost = decodeURIComponent(path);
    } catch {
      throw malformed();
    }
  }
  const num = (k: string, dflt: number): number => {
    const v = query.get(k);
    if (v === null) return dflt;
    if (!/^[0-9]+$/.test(v)) throw malformed();
    return Number(v);
  };
  const opt = (k: string): string | undefined => query.get(k) ?? undefined;
  const files: { ca?: string; cert?: string; key?: string } = {};
  const ca = opt('cacertfile');
  const cert = opt('certfile');
  const key = opt('keyfile');
  if (ca !== undefined) files.ca = ca;
  if (cert !== undefined) files.cert = cert;
  if (key !== undefined) files.key = key;
  return {
    text,
    direct: host === '',
    tls: s === 'amqps',
    host,
    port,
    user,
    pass,
    vhost,
    heartbeat: num('heartbeat', DEFAULT_HEARTBEAT),
    connectTimeout: num('connection_timeout', 60_000),
    tlsFiles: files,
    verify: opt('verify') !== 'verify_none' && (opt('verify') === 'verify_peer' || files.ca !== undefined),
    serverName: opt('server_name_indication'),
  };
}

/** The URI without its user and password, as RabbitMQ shows it (status, x-shovelled headers). */
export function withoutCredentials(text: string): string {
  return text.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?@]*@/, '$1');
}
