// warren ctl version, await_online_nodes, set_log_level and stop, with rabbitmqctl 3.10.8's
// arguments, lines and exit codes. set_log_level goes through PUT /api/warren/log-level
// (management/log-level-api.ts), stop through POST /api/warren/stop (management/stop-api.ts);
// await_online_nodes counts the running nodes of GET /api/nodes.
import { LOG_LEVELS, unsupportedLevel } from './server/log-levels.js';
import { RABBITMQ_VERSION } from './server/server-properties.js';
import { pidIn, running } from './ctl-wait.js';

type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;

export const NODE_COMMANDS: Record<string, [number, number, string]> = {
  version: [0, 0, 'version'],
  await_online_nodes: [1, 1, 'await_online_nodes <count> [-t|--timeout <seconds>]'],
  set_log_level: [1, 1, 'set_log_level <log_level>'],
  stop: [0, 1, 'stop [--idempotent] [<pidfile>]'],
};

/** A refusal rabbitmqctl prints after "Error:" with an exit code of its own. */
export class NodeCommandError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** rabbitmqctl's "Bad argument" (exit 65) for a count that is not a positive integer. */
export class NodeBadArgument extends Error {}

export interface NodeIo {
  call: Call;
  say(line: string): void;
  out(line: string): void;
  /** The node ctl talks to, by its name. */
  node(): Promise<string>;
  json: boolean;
  /** -t in seconds; await_online_nodes waits 300 without it, as rabbitmqctl. */
  timeoutSeconds: number | undefined;
}

const POLL_MS = 250;
const EX_UNAVAILABLE = 69;
const EX_SOFTWARE = 70;

export async function runNodeCommand(action: string, args: string[], io: NodeIo): Promise<number> {
  if (action === 'version') {
    // The version Warren answers as (server properties, the API's rabbitmq_version), which is
    // what scripts asking rabbitmqctl for its version compare against.
    if (io.json) io.out(JSON.stringify({ node: await io.node(), result: 'ok', value: { version: RABBITMQ_VERSION } }));
    else io.out(RABBITMQ_VERSION);
    return 0;
  }
  if (action === 'stop') return stop(args[0], io);
  if (action === 'set_log_level') {
    const level = args[0]!;
    // Refused before the banner, as 3.10.8 does (exit 69).
    if (!Object.hasOwn(LOG_LEVELS, level)) throw new NodeCommandError(unsupportedLevel(level), EX_UNAVAILABLE);
    io.say(`Setting log level to "${level}" ...`);
    await io.call('PUT', '/api/warren/log-level', { level });
    return 0;
  }
  // await_online_nodes
  if (!/^\d+$/.test(args[0]!) || Number(args[0]) < 1) throw new NodeBadArgument('Bad argument: Argument must be a positive integer');
  const want = Number(args[0]);
  const seconds = io.timeoutSeconds ?? 300;
  const node = await io.node();
  io.say(`Will wait for at least ${want} nodes to join the cluster of ${node}. Timeout: ${seconds} seconds.`);
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const nodes = (await io.call('GET', '/api/nodes')) as { running?: boolean }[];
    if (nodes.filter((n) => n.running === true).length >= want) return 0;
    if (Date.now() >= until) throw new NodeCommandError(`Error: timed out while waiting. Not enough nodes joined ${node}'s cluster.`, EX_SOFTWARE);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * rabbitmqctl stop [pidfile]: the broker stops as on SIGTERM (a cluster node hands its queues over
 * first). With a pid file (the broker's --pid-file), waits for the file, then for that process
 * to be gone, as 3.10.8 does.
 */
async function stop(pidFile: string | undefined, io: NodeIo): Promise<number> {
  const node = await io.node();
  io.say(pidFile ? `Stopping and halting node ${node} (will monitor pid file ${pidFile}) ...` : `Stopping and halting node ${node} ...`);
  await io.call('POST', '/api/warren/stop');
  if (!pidFile) return 0;
  let pid: number | null;
  while ((pid = await pidIn(pidFile)) === null) await new Promise((r) => setTimeout(r, POLL_MS));
  while (running(pid)) await new Promise((r) => setTimeout(r, POLL_MS));
  io.say(`process ${pid} (take from pid file ${pidFile}) is no longer running`);
  return 0;
}
