// warren ctl set_vm_memory_high_watermark and set_disk_free_limit, with rabbitmqctl 3.10.8's
// arguments, lines and exit codes; they go through /api/warren/* (management/alarms-api.ts).
import { size } from './config-file.js';

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;

export const ALARM_COMMANDS: Record<string, [number, number, string]> = {
  set_vm_memory_high_watermark: [1, 2, 'set_vm_memory_high_watermark <fraction> | absolute <value>'],
  set_disk_free_limit: [1, 2, 'set_disk_free_limit <disk_limit> | mem_relative <fraction>'],
};

/** rabbitmqctl's "Bad argument" (exit 65) for a value it cannot take. */
export class BadArgument extends Error {}

const fraction = (v: string): number => {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new BadArgument('Bad argument.');
  return Number(v);
};

const bytes = (v: string): number => {
  try {
    return size(v);
  } catch {
    throw new BadArgument('Bad argument.');
  }
};

/** Runs one of the two commands; say prints rabbitmqctl's informational line. */
export async function runAlarms(action: string, args: string[], call: Call, say: (line: string) => void, node: () => Promise<string>): Promise<number> {
  if (action === 'set_vm_memory_high_watermark') {
    let body: { relative: number } | { absolute: number };
    let shown: string;
    if (args.length === 2) {
      if (args[0] !== 'absolute') throw new BadArgument('Bad argument.');
      body = { absolute: bytes(args[1]!) };
      shown = `${args[1]} bytes`;
    } else {
      const f = fraction(args[0]!);
      if (f > 1) throw new BadArgument('Bad argument: The threshold should be a fraction between 0.0 and 1.0');
      body = { relative: f };
      shown = args[0]!;
    }
    say(`Setting memory threshold on ${await node()} to ${shown} ...`);
    await call('PUT', '/api/warren/vm-memory-high-watermark', body);
    return 0;
  }
  let body: { absolute: number } | { mem_relative: number };
  let shown: string;
  if (args.length === 2) {
    if (args[0] !== 'mem_relative') throw new BadArgument('Bad argument.');
    body = { mem_relative: fraction(args[1]!) };
    shown = `${args[1]} times the total RAM`;
  } else {
    body = { absolute: bytes(args[0]!) };
    shown = `${args[0]} bytes`;
  }
  say(`Setting disk free limit on ${await node()} to ${shown} ...`);
  await call('PUT', '/api/warren/disk-free-limit', body);
  return 0;
}
