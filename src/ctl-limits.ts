// warren ctl's vhost and user limits commands, with rabbitmqctl 3.10.8's lines:
// set_vhost_limits, clear_vhost_limits, list_vhost_limits, set_user_limits, clear_user_limits,
// list_user_limits. They go through /api/vhost-limits and /api/user-limits.
import type { CtlOptions } from './ctl.js';

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;
type Limits = { [k: string]: unknown };
type Entry = { vhost?: string; user?: string; value: Limits };

export const LIMIT_COMMANDS: Record<string, [number, number, string]> = {
  set_vhost_limits: [1, 1, 'set_vhost_limits [-p <vhost>] <definition>'],
  clear_vhost_limits: [0, 0, 'clear_vhost_limits [-p <vhost>]'],
  list_vhost_limits: [0, 0, 'list_vhost_limits [-p <vhost>] [--global]'],
  set_user_limits: [2, 2, 'set_user_limits <username> <definition>'],
  clear_user_limits: [2, 2, 'clear_user_limits <username> <limit> | all'],
  list_user_limits: [0, 0, 'list_user_limits [--user <username>] [--global]'],
};

export class LimitsInputError extends Error {}

function parseDefinition(text: string): Limits {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LimitsInputError(`JSON decoding error. Reason: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new LimitsInputError('JSON decoding error. Reason: not an object');
  return parsed as Limits;
}

/** Replaces all of an owner's limits by the definition's: puts each, clears the ones left out. */
async function replaceLimits(call: Call, base: string, owner: string, def: Limits): Promise<void> {
  const enc = encodeURIComponent;
  const current = ((await call('GET', `${base}/${enc(owner)}`)) as Entry[])[0]?.value ?? {};
  for (const [k, v] of Object.entries(def)) await call('PUT', `${base}/${enc(owner)}/${enc(k)}`, { value: v });
  for (const k of Object.keys(current)) if (!(k in def)) await call('DELETE', `${base}/${enc(owner)}/${enc(k)}`);
}

/** Runs one limits command; say prints informational lines, out the listing. */
export async function runLimits(action: string, args: string[], o: CtlOptions, call: Call, say: (line: string) => void): Promise<number> {
  const enc = encodeURIComponent;
  const json = (v: unknown): string => JSON.stringify(v);
  switch (action) {
    case 'set_vhost_limits':
      say(`Setting vhost limits to "${args[0]}" for vhost "${o.vhost}" ...`);
      await replaceLimits(call, '/api/vhost-limits', o.vhost, parseDefinition(args[0]!));
      return 0;
    case 'clear_vhost_limits': {
      say(`Clearing vhost "${o.vhost}" limits ...`);
      const cur = ((await call('GET', `/api/vhost-limits/${enc(o.vhost)}`)) as Entry[])[0]?.value ?? {};
      // rabbitmqctl 3.10.8 exits 69 when there are none to clear.
      if (Object.keys(cur).length === 0) throw new LimitsInputError('Parameter does not exist');
      for (const k of Object.keys(cur)) await call('DELETE', `/api/vhost-limits/${enc(o.vhost)}/${enc(k)}`);
      return 0;
    }
    case 'list_vhost_limits': {
      if (o.global) {
        say('Listing limits for all vhosts ...');
        const all = (await call('GET', '/api/vhost-limits')) as Entry[];
        if (o.tableHeaders) o.out('vhost\tlimits');
        for (const e of all) o.out(`${e.vhost}\t${json(e.value)}`);
        return 0;
      }
      say(`Listing limits for vhost "${o.vhost}" ...`);
      const mine = (await call('GET', `/api/vhost-limits/${enc(o.vhost)}`)) as Entry[];
      if (mine[0]) o.out(json(mine[0].value));
      return 0;
    }
    case 'set_user_limits':
      say(`Setting user limits to "${args[1]}" for user "${args[0]}" ...`);
      await replaceLimits(call, '/api/user-limits', args[0]!, parseDefinition(args[1]!));
      return 0;
    case 'clear_user_limits': {
      const [user, limit] = args as [string, string];
      if (limit === 'all') {
        say(`Clearing all limits for user "${user}" ...`);
        const cur = ((await call('GET', `/api/user-limits/${enc(user)}`)) as Entry[])[0]?.value ?? {};
        for (const k of Object.keys(cur)) await call('DELETE', `/api/user-limits/${enc(user)}/${enc(k)}`);
      } else {
        say(`Clearing "${limit}" limit for user "${user}" ...`);
        await call('DELETE', `/api/user-limits/${enc(user)}/${enc(limit)}`);
      }
      return 0;
    }
    case 'list_user_limits': {
      if (o.global) {
        say('Listing limits for all users ...');
        const all = (await call('GET', '/api/user-limits')) as Entry[];
        if (o.tableHeaders) o.out('user\tlimits');
        for (const e of all) o.out(`${e.user}\t${json(e.value)}`);
        return 0;
      }
      const user = o.limitsUser ?? o.username;
      say(`Listing limits for user "${user}" ...`);
      const mine = (await call('GET', `/api/user-limits/${enc(user)}`)) as Entry[];
      if (mine[0]) o.out(json(mine[0].value));
      return 0;
    }
    default:
      throw new Error(`warren ctl: '${action}' is not a limits command`);
  }
}
