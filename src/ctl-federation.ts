// warren ctl's federation commands, with rabbitmqctl 3.10.8's lines: federation_status and
// restart_federation_link. They go through /api/federation-links.
import type { CtlOptions } from './ctl.js';
import { formatRows, type Cells } from './ctl-format.js';

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;
type Row = Record<string, unknown>;

export const FEDERATION_COMMANDS: Record<string, [number, number, string]> = {
  federation_status: [0, 0, 'federation_status [--only-down]'],
  restart_federation_link: [1, 1, 'restart_federation_link <link_id>'],
};

/** A link that is not there: rabbitmqctl's text, exit code 69. */
export class LinkNotFound extends Error {}

const COLUMNS = ['error', 'exchange', 'id', 'last_changed', 'local_connection', 'queue', 'status', 'type', 'upstream', 'upstream_exchange', 'upstream_queue', 'uri', 'vhost'];

/** A link as rabbitmqctl's federation_status gives it (its keys, "" for those it lacks, the time zero-padded). */
function cells(r: Row): Cells {
  return {
    error: r.error ?? '',
    exchange: r.exchange ?? '',
    id: r.id,
    last_changed: String(r.timestamp ?? '').replace(/ (\d):/, ' 0$1:'),
    local_connection: r.local_connection ?? '',
    queue: r.queue ?? '',
    status: r.status,
    type: r.type,
    upstream: r.upstream,
    upstream_exchange: r.upstream_exchange ?? '',
    upstream_queue: r.upstream_queue ?? '',
    uri: r.uri ?? '',
    vhost: r.vhost,
  };
}

export async function runFederation(action: string, args: string[], o: CtlOptions, call: Call, say: (line: string) => void, node: () => Promise<string>, onlyDown: boolean): Promise<number> {
  const links = (await call('GET', '/api/federation-links')) as Row[];
  if (action === 'federation_status') {
    say(`Listing federation links on node ${await node()}...`);
    const rows = links.filter((l) => !onlyDown || l.status !== 'running').map(cells);
    // rabbitmqctl prints the table formatter's rows as Erlang maps; Warren prints them as a table.
    for (const line of formatRows(rows, COLUMNS, o.formatter, o.tableHeaders)) o.out(line);
    return 0;
  }
  const id = args[0]!;
  say(`Restarting federation link ${id} on node ${await node()}`);
  const link = links.find((l) => l.id === id);
  if (!link) throw new LinkNotFound('Link with the given ID was not found');
  const enc = encodeURIComponent;
  await call('DELETE', `/api/federation-links/vhost/${enc(String(link.vhost))}/${enc(id)}/${enc(String(link.node))}/restart`);
  return 0;
}
