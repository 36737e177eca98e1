// warren ctl's shovel commands, with rabbitmqctl 3.10.8's lines: shovel_status, delete_shovel,
// restart_shovel. They go through /api/shovels (and the shovel's parameter).
import type { CtlOptions } from './ctl.js';
import { formatRows, type Cells } from './ctl-format.js';

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;
type Row = Record<string, unknown>;

export const SHOVEL_COMMANDS: Record<string, [number, number, string]> = {
  shovel_status: [0, 0, 'shovel_status'],
  delete_shovel: [1, 1, 'delete_shovel [-p <vhost>] <name>'],
  restart_shovel: [1, 1, 'restart_shovel [-p <vhost>] <name>'],
};

/** A shovel that is not there: rabbitmqctl's text and exit code 69. */
export class ShovelNotFound extends Error {}

/** "2026-12-05 3:44:07" (the API's) as rabbitmqctl prints it: "2026-12-05 03:44:07". */
const padded = (t: unknown): string => String(t ?? '').replace(/ (\d):/, ' 0$1:');

/** A status row as rabbitmqctl's shovel_status gives it: keys sorted, source and destination named so. */
function statusCells(r: Row): Cells {
  const running = r.state === 'running';
  const out: Cells = {
    destination: running ? r.dest_uri : '',
    last_changed: padded(r.timestamp),
    name: r.name,
    source: running ? r.src_uri : '',
    state: r.state,
    termination_reason: '',
    type: r.type,
    vhost: r.vhost,
  };
  if (running) {
    for (const [api, ctl] of [
      ['dest_protocol', 'destination_protocol'],
      ['dest_queue', 'destination_queue'],
      ['dest_exchange', 'destination_exchange'],
      ['dest_exchange_key', 'destination_exchange_key'],
      ['src_protocol', 'source_protocol'],
      ['src_queue', 'source_queue'],
      ['src_exchange', 'source_exchange'],
      ['src_exchange_key', 'source_exchange_key'],
    ] as const) {
      if (r[api] !== undefined) out[ctl] = r[api];
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export async function runShovels(action: string, args: string[], o: CtlOptions, call: Call, say: (line: string) => void, node: () => Promise<string>): Promise<number> {
  const enc = encodeURIComponent;
  const notFound = (vhost: string): ShovelNotFound =>
    new ShovelNotFound(`Shovel with the given name was not found on the target node '${'{node}'}' and / or virtual host '${vhost}'`);
  const exists = async (name: string): Promise<boolean> => {
    const all = (await call('GET', '/api/shovels')) as Row[];
    return all.some((r) => r.vhost === o.vhost && r.name === name);
  };
  switch (action) {
    case 'shovel_status': {
      say(`Shovel status on node ${await node()}`);
      const rows = ((await call('GET', '/api/shovels')) as Row[]).map(statusCells);
      // rabbitmqctl takes its columns (and its header) from the first row, and prints each row whole.
      if (rows.length === 0) return 0;
      if (o.formatter === 'json') {
        o.out('[');
        rows.forEach((r, i) => o.out((i === 0 ? '' : ',') + JSON.stringify(r)));
        o.out(']');
        return 0;
      }
      const header = Object.keys(rows[0]!);
      if (o.formatter !== 'table') {
        for (const l of formatRows(rows, header, o.formatter, o.tableHeaders)) o.out(l);
        return 0;
      }
      if (o.tableHeaders) o.out(header.join('\t'));
      for (const r of rows) o.out(Object.values(r).map((v) => String(v ?? '')).join('\t'));
      return 0;
    }
    case 'delete_shovel': {
      const name = args[0]!;
      say(`Deleting shovel ${name} in vhost ${o.vhost}`);
      if (!(await exists(name))) throw notFound(o.vhost);
      await call('DELETE', `/api/shovels/vhost/${enc(o.vhost)}/${enc(name)}`);
      return 0;
    }
    case 'restart_shovel': {
      const name = args[0]!;
      say(`Restarting dynamic Shovel ${name} in virtual host ${o.vhost} on node ${await node()}`);
      if (!(await exists(name))) throw notFound(o.vhost);
      await call('DELETE', `/api/shovels/vhost/${enc(o.vhost)}/${enc(name)}/restart`);
      return 0;
    }
  }
  return 0;
}
