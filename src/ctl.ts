// `warren ctl …`: rabbitmqctl-style commands that talk to a running broker through its management
// HTTP API, printing tab-separated columns with a header line as rabbitmqctl does.
import { readFileSync, writeFileSync } from 'node:fs';

export interface CtlOptions {
  url: string;
  username: string;
  password: string;
  vhost: string;
  out: (line: string) => void;
}

class CtlError extends Error {}

async function call(o: CtlOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(o.url.replace(/\/$/, '') + path, {
    method,
    headers: {
      authorization: 'Basic ' + Buffer.from(`${o.username}:${o.password}`).toString('base64'),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((e: Error) => {
    throw new CtlError(`cannot reach the broker's management API at ${o.url}: ${e.message}`);
  });
  const text = await res.text();
  if (!res.ok) {
    let reason = text;
    try {
      reason = (JSON.parse(text) as { reason?: string }).reason ?? text;
    } catch {
      // not JSON
    }
    throw new CtlError(`${method} ${path}: ${res.status} ${reason}`);
  }
  return text === '' ? null : JSON.parse(text);
}

const enc = encodeURIComponent;
type Row = Record<string, unknown>;

function table(o: CtlOptions, rows: Row[], columns: string[]): void {
  o.out(columns.join('\t'));
  for (const r of rows) {
    o.out(
      columns
        .map((c) => {
          const v = c.split('.').reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Row)[k] : undefined), r);
          return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '');
        })
        .join('\t'),
    );
  }
}

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new CtlError(`usage: warren ctl ${usage}`);
}

export const CTL_COMMANDS = [
  'status',
  'list_queues',
  'list_exchanges',
  'list_bindings',
  'list_connections',
  'list_consumers',
  'list_users',
  'list_vhosts',
  'list_permissions',
  'purge_queue',
  'delete_queue',
  'close_connection',
  'add_user',
  'delete_user',
  'change_password',
  'set_user_tags',
  'set_permissions',
  'clear_permissions',
  'add_vhost',
  'delete_vhost',
  'export_definitions',
  'import_definitions',
];

/** Runs one ctl command; resolves with the process exit code. */
export async function runCtl(action: string, args: string[], o: CtlOptions): Promise<number> {
  const v = enc(o.vhost);
  try {
    switch (action) {
      case 'status': {
        const ov = (await call(o, 'GET', '/api/overview')) as Row;
        o.out(`Status of node ${String(ov.node)}: ${String(ov.product_name)} ${String(ov.product_version)}`);
        o.out(`Uptime (ms): ${String(ov.uptime)}`);
        for (const [k, x] of Object.entries(ov.object_totals as Row)) o.out(`${k}: ${String(x)}`);
        for (const [k, x] of Object.entries(ov.queue_totals as Row)) o.out(`${k}: ${String(x)}`);
        return 0;
      }
      case 'list_queues': {
        o.out(`Listing queues for vhost ${o.vhost} ...`);
        table(o, (await call(o, 'GET', `/api/queues/${v}`)) as Row[], args.length ? args : ['name', 'messages']);
        return 0;
      }
      case 'list_exchanges':
        o.out(`Listing exchanges for vhost ${o.vhost} ...`);
        table(o, (await call(o, 'GET', `/api/exchanges/${v}`)) as Row[], args.length ? args : ['name', 'type']);
        return 0;
      case 'list_bindings':
        o.out(`Listing bindings for vhost ${o.vhost}...`);
        table(o, (await call(o, 'GET', `/api/bindings/${v}`)) as Row[], args.length ? args : ['source', 'destination', 'destination_type', 'routing_key', 'arguments']);
        return 0;
      case 'list_connections':
        o.out('Listing connections ...');
        table(o, (await call(o, 'GET', '/api/connections')) as Row[], args.length ? args : ['name', 'user', 'peer_host', 'peer_port', 'state']);
        return 0;
      case 'list_consumers': {
        o.out(`Listing consumers in vhost ${o.vhost} ...`);
        const rows = ((await call(o, 'GET', '/api/consumers')) as Row[]).filter((c) => (c.queue as Row).vhost === o.vhost);
        table(o, rows, args.length ? args : ['queue.name', 'channel_details.name', 'consumer_tag', 'ack_required', 'prefetch_count', 'arguments']);
        return 0;
      }
      case 'list_users':
        o.out('Listing users ...');
        // As rabbitmqctl prints them: a "user" column and tags as [a, b].
        const users = (await call(o, 'GET', '/api/users')) as Row[];
        table(o, users.map((u) => ({ user: u.name, tags: `[${(u.tags as string[]).join(', ')}]` })), ['user', 'tags']);
        return 0;
      case 'list_vhosts':
        o.out('Listing vhosts ...');
        table(o, (await call(o, 'GET', '/api/vhosts')) as Row[], args.length ? args : ['name']);
        return 0;
      case 'list_permissions': {
        o.out(`Listing permissions for vhost "${o.vhost}" ...`);
        const rows = ((await call(o, 'GET', '/api/permissions')) as Row[]).filter((p) => p.vhost === o.vhost);
        table(o, rows, ['user', 'configure', 'write', 'read']);
        return 0;
      }
      case 'purge_queue': {
        need(args, 1, 'purge_queue <queue>');
        const q = (await call(o, 'GET', `/api/queues/${v}/${enc(args[0]!)}`)) as Row;
        o.out(`Purging queue '${args[0]}' in vhost '${o.vhost}' (${String(q.messages_ready)} ready messages) ...`);
        await call(o, 'DELETE', `/api/queues/${v}/${enc(args[0]!)}/contents`);
        o.out('done');
        return 0;
      }
      case 'delete_queue':
        need(args, 1, 'delete_queue <queue>');
        o.out(`Deleting queue '${args[0]}' on vhost '${o.vhost}' ...`);
        await call(o, 'DELETE', `/api/queues/${v}/${enc(args[0]!)}`);
        return 0;
      case 'close_connection':
        need(args, 1, 'close_connection <connection name> [explanation]');
        o.out(`Closing connection ${args[0]}, reason: ${args[1] ?? 'Closed via warren ctl'}...`);
        await fetchDelete(o, `/api/connections/${enc(args[0]!)}`, args[1] ?? 'Closed via warren ctl');
        return 0;
      case 'add_user':
        need(args, 2, 'add_user <username> <password>');
        o.out(`Adding user "${args[0]}" ...`);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password: args[1], tags: '' });
        return 0;
      case 'delete_user':
        need(args, 1, 'delete_user <username>');
        o.out(`Deleting user "${args[0]}" ...`);
        await call(o, 'DELETE', `/api/users/${enc(args[0]!)}`);
        return 0;
      case 'change_password': {
        need(args, 2, 'change_password <username> <password>');
        const u = (await call(o, 'GET', `/api/users/${enc(args[0]!)}`)) as Row;
        o.out(`Changing password for user "${args[0]}" ...`);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password: args[1], tags: u.tags });
        return 0;
      }
      case 'set_user_tags': {
        need(args, 1, 'set_user_tags <username> <tag> ...');
        const u = (await call(o, 'GET', `/api/users/${enc(args[0]!)}`)) as Row;
        o.out(`Setting tags for user "${args[0]}" to [${args.slice(1).join(', ')}] ...`);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password_hash: u.password_hash, tags: args.slice(1) });
        return 0;
      }
      case 'set_permissions':
        need(args, 4, 'set_permissions [-p <vhost>] <username> <conf> <write> <read>');
        o.out(`Setting permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
        await call(o, 'PUT', `/api/permissions/${v}/${enc(args[0]!)}`, { configure: args[1], write: args[2], read: args[3] });
        return 0;
      case 'clear_permissions':
        need(args, 1, 'clear_permissions [-p <vhost>] <username>');
        o.out(`Clearing permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
        await call(o, 'DELETE', `/api/permissions/${v}/${enc(args[0]!)}`);
        return 0;
      case 'add_vhost':
        need(args, 1, 'add_vhost <vhost>');
        o.out(`Adding vhost "${args[0]}" ...`);
        {
          const path = `/api/vhosts/${enc(args[0]!)}`;
          const isNew = await call(o, 'GET', path).then(
            () => false,
            () => true,
          );
          await call(o, 'PUT', path, {});
          // The API gives whoever creates a vhost full permissions on it; rabbitmqctl add_vhost
          // gives none, so take them back.
          if (isNew) await call(o, 'DELETE', `/api/permissions/${enc(args[0]!)}/${enc(o.username)}`);
        }
        return 0;
      case 'delete_vhost':
        need(args, 1, 'delete_vhost <vhost>');
        o.out(`Deleting vhost "${args[0]}" ...`);
        await call(o, 'DELETE', `/api/vhosts/${enc(args[0]!)}`);
        return 0;
      case 'export_definitions': {
        need(args, 1, 'export_definitions <file | ->');
        const defs = JSON.stringify(await call(o, 'GET', '/api/definitions'), null, 2);
        if (args[0] === '-') o.out(defs);
        else {
          writeFileSync(args[0]!, defs + '\n');
          o.out(`Exported definitions for all vhosts to "${args[0]}"`);
        }
        return 0;
      }
      case 'import_definitions': {
        need(args, 1, 'import_definitions <file>');
        const defs = JSON.parse(readFileSync(args[0]!, 'utf8')) as Record<string, unknown[] | undefined>;
        const n = ['vhosts', 'users', 'permissions', 'exchanges', 'queues', 'bindings'].reduce((s, k) => s + (defs[k]?.length ?? 0), 0);
        o.out(`Importing definitions in JSON from a file at "${args[0]}" (${n} objects) ...`);
        const t0 = Date.now();
        await call(o, 'POST', '/api/definitions', defs);
        o.out(`Imported ${n} objects in ${Date.now() - t0} ms`);
        return 0;
      }
      default:
        throw new CtlError(`unknown command '${action}'; commands: ${CTL_COMMANDS.join(', ')}`);
    }
  } catch (e) {
    if (e instanceof CtlError) {
      o.out(`Error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function fetchDelete(o: CtlOptions, path: string, reason: string): Promise<void> {
  const res = await fetch(o.url.replace(/\/$/, '') + path, {
    method: 'DELETE',
    headers: { authorization: 'Basic ' + Buffer.from(`${o.username}:${o.password}`).toString('base64'), 'x-reason': reason },
  });
  if (!res.ok) throw new CtlError(`DELETE ${path}: ${res.status} ${await res.text()}`);
}
