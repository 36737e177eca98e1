// `warren ctl …`: rabbitmqctl-style commands that talk to a running broker through its management
// HTTP API, printing what rabbitmqctl prints (tab-separated columns under a header line by default).
import { readFileSync, writeFileSync } from 'node:fs';
import { EX_USAGE, type CtlArgs } from './ctl-args.js';
import { formatRows } from './ctl-format.js';
import { ApiTimeout, apiRequest, type ApiAnswer } from './ctl-http.js';
import { LISTS, type ListSpec, type Row } from './ctl-lists.js';
import { DIAGNOSTICS, runDiagnostic } from './ctl-diagnostics.js';
import { LIMIT_COMMANDS, LimitsInputError, runLimits } from './ctl-limits.js';
import { ALARM_COMMANDS, BadArgument, runAlarms } from './ctl-alarms.js';
import { SHOVEL_COMMANDS, ShovelNotFound, runShovels } from './ctl-shovels.js';
import { FEDERATION_COMMANDS, LinkNotFound, runFederation } from './ctl-federation.js';
import { statusJson, statusLines } from './ctl-status.js';
import { waitForBroker } from './ctl-wait.js';
import { NODE_COMMANDS, NodeBadArgument, NodeCommandError, runNodeCommand } from './ctl-node.js';
import { runReport } from './ctl-report.js';

/** What the commands need of the parsed command line, and where they print. */
export interface CtlOptions extends Omit<CtlArgs, 'action' | 'args' | 'help'> {
  out: (line: string) => void;
  err: (line: string) => void;
  /** The command running, for rabbitmqctl's timeout message (runCtl sets it). */
  operation?: string;
}

/** A failure reported as "Error:" and an exit code (EX_SOFTWARE unless rabbitmqctl uses another). */
class CtlError extends Error {
  constructor(
    message: string,
    readonly code = EX_SOFTWARE,
    /** For a refused API call: its HTTP status and the API's reason. */
    readonly status = 0,
    readonly reason = '',
    /** Printed without the "Error:" line above it, as rabbitmqctl prints some refusals. */
    readonly bare = false,
  ) {
    super(message);
  }
}

/**
 * rabbitmqctl's exit codes (sysexits), as 3.10.8 gave them: EX_DATAERR for a missing vhost,
 * EX_NOUSER for a missing user, EX_UNAVAILABLE for a broker it cannot reach, a missing queue to
 * purge or connection to close, and refused parameters; EX_SOFTWARE for anything else that failed
 * (an existing user to add). EX_NOPERM when the management API refuses the credentials.
 */
const EX_DATAERR = 65;
const EX_NOUSER = 67;
const EX_UNAVAILABLE = 69;
const EX_SOFTWARE = 70;
const EX_TEMPFAIL = 75;
const EX_NOPERM = 77;

/** A request to the broker's management API; a broker that cannot be reached is EX_UNAVAILABLE. */
function send(o: CtlOptions, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer> {
  const timeoutMs = o.timeout === undefined ? undefined : o.timeout * 1000;
  return apiRequest(o.url, o.username, o.password, method, path, { ...opts, timeoutMs }).catch((e: Error) => {
    // rabbitmqctl 3.10.8's words and exit code (75, EX_TEMPFAIL) for an operation past -t.
    if (e instanceof ApiTimeout) throw new CtlError(`operation ${o.operation ?? method} on node ${o.url} timed out. Timeout value used: ${String(timeoutMs)}`, EX_TEMPFAIL);
    throw new CtlError(`unable to perform an operation on the broker at ${o.url}: ${e.message}`, EX_UNAVAILABLE);
  });
}

const ok = (status: number): boolean => status >= 200 && status < 300;

async function call(o: CtlOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await send(o, method, path, { body });
  const text = res.text;
  if (!ok(res.status)) {
    let reason = text;
    try {
      reason = (JSON.parse(text) as { reason?: string }).reason ?? text;
    } catch {
      // not JSON
    }
    const code = res.status === 401 || res.status === 403 ? EX_NOPERM : EX_SOFTWARE;
    throw new CtlError(`${method} ${path}: ${res.status} ${reason}`, code, res.status, reason);
  }
  return text === '' ? null : JSON.parse(text);
}

const enc = encodeURIComponent;

/** Each command's positional arguments: [least, most, usage]. More or fewer is a usage error. */
const COMMANDS: Record<string, [number, number, string]> = {
  status: [0, 0, 'status [--unit <bytes | mb | gb>]'],
  cluster_status: [0, 0, 'cluster_status'],
  list_queues: [0, Infinity, 'list_queues [-p <vhost>] [--online] [--offline] [--local] [<column> ...]'],
  list_unresponsive_queues: [0, Infinity, 'list_unresponsive_queues [-p <vhost>] [--local] [<column> ...]'],
  list_exchanges: [0, Infinity, 'list_exchanges [-p <vhost>] [<column> ...]'],
  list_bindings: [0, Infinity, 'list_bindings [-p <vhost>] [<column> ...]'],
  list_connections: [0, Infinity, 'list_connections [<column> ...]'],
  list_channels: [0, Infinity, 'list_channels [<column> ...]'],
  list_consumers: [0, Infinity, 'list_consumers [-p <vhost>] [<column> ...]'],
  list_users: [0, 0, 'list_users'],
  list_vhosts: [0, Infinity, 'list_vhosts [<column> ...]'],
  list_permissions: [0, 0, 'list_permissions [-p <vhost>]'],
  list_policies: [0, 0, 'list_policies [-p <vhost>]'],
  list_operator_policies: [0, 0, 'list_operator_policies [-p <vhost>]'],
  list_user_permissions: [1, 1, 'list_user_permissions <username>'],
  list_topic_permissions: [0, 0, 'list_topic_permissions [-p <vhost>]'],
  list_user_topic_permissions: [1, 1, 'list_user_topic_permissions <username>'],
  set_topic_permissions: [4, 4, 'set_topic_permissions [-p <vhost>] <username> <exchange> <write> <read>'],
  clear_topic_permissions: [1, 2, 'clear_topic_permissions [-p <vhost>] <username> [<exchange>]'],
  list_parameters: [0, 0, 'list_parameters [-p <vhost>]'],
  set_parameter: [3, 3, 'set_parameter [-p <vhost>] <component_name> <name> <value>'],
  clear_parameter: [2, 2, 'clear_parameter [-p <vhost>] <component_name> <name>'],
  list_global_parameters: [0, 0, 'list_global_parameters'],
  list_feature_flags: [0, Infinity, 'list_feature_flags [<column> ...]'],
  list_node_auth_attempt_stats: [0, 0, 'list_node_auth_attempt_stats [--by-source]'],
  enable_feature_flag: [1, 1, 'enable_feature_flag <feature_flag> | all'],
  set_global_parameter: [2, 2, 'set_global_parameter <name> <value>'],
  clear_global_parameter: [1, 1, 'clear_global_parameter <name>'],
  set_cluster_name: [1, 1, 'set_cluster_name <name>'],
  purge_queue: [1, 1, 'purge_queue [-p <vhost>] <queue>'],
  delete_queue: [1, 1, 'delete_queue [-p <vhost>] <queue> [--if-empty|-e] [--if-unused]'],
  close_connection: [1, 2, 'close_connection <connection pid or name> [explanation]'],
  close_all_connections: [1, 1, 'close_all_connections [-p <vhost> --limit <limit>] [--global] [--per-connection-delay <delay>] <explanation>'],
  add_user: [2, 2, 'add_user <username> <password>'],
  delete_user: [1, 1, 'delete_user <username>'],
  change_password: [2, 2, 'change_password <username> <password>'],
  clear_password: [1, 1, 'clear_password <username>'],
  authenticate_user: [2, 2, 'authenticate_user <username> <password>'],
  close_all_user_connections: [2, 2, 'close_all_user_connections <username> <explanation>'],
  set_vhost_tags: [1, Infinity, 'set_vhost_tags <vhost> <tag> ...'],
  set_user_tags: [1, Infinity, 'set_user_tags <username> <tag> ...'],
  set_permissions: [4, 4, 'set_permissions [-p <vhost>] <username> <conf> <write> <read>'],
  clear_permissions: [1, 1, 'clear_permissions [-p <vhost>] <username>'],
  add_vhost: [1, 1, 'add_vhost <vhost> [--description <description>] [--tags <tags>] [--default-queue-type <classic|quorum|stream>]'],
  delete_vhost: [1, 1, 'delete_vhost <vhost>'],
  trace_on: [0, 0, 'trace_on [-p <vhost>]'],
  trace_off: [0, 0, 'trace_off [-p <vhost>]'],
  set_policy: [3, 3, 'set_policy [-p <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>'],
  clear_policy: [1, 1, 'clear_policy [-p <vhost>] <name>'],
  set_operator_policy: [3, 3, 'set_operator_policy [-p <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>'],
  clear_operator_policy: [1, 1, 'clear_operator_policy [-p <vhost>] <name>'],
  export_definitions: [1, 1, 'export_definitions <file | ->'],
  import_definitions: [1, 1, 'import_definitions <file>'],
  help: [0, 1, 'help [<command>]'],
  ping: [0, 0, 'ping'],
  node_health_check: [0, 0, 'node_health_check'],
  check_running: [0, 0, 'check_running'],
  check_local_alarms: [0, 0, 'check_local_alarms'],
  check_alarms: [0, 0, 'check_alarms'],
  check_port_connectivity: [0, 0, 'check_port_connectivity'],
  check_virtual_hosts: [0, 0, 'check_virtual_hosts'],
  await_startup: [0, 0, 'await_startup [-t|--timeout <seconds>]'],
  wait: [0, 1, 'wait [<pidfile>] [--pid|-P <pid>] [-t|--timeout <seconds>]'],
  environment: [0, 0, 'environment'],
  report: [0, 0, 'report'],
  ...LIMIT_COMMANDS,
  ...ALARM_COMMANDS,
  ...SHOVEL_COMMANDS,
  ...FEDERATION_COMMANDS,
  ...NODE_COMMANDS,
};

export const CTL_COMMANDS = Object.keys(COMMANDS);

/** Options every command takes, for the usage lines. */
export const CTL_GLOBAL_USAGE =
  '[--url <management url>] [-u|--username <user>] [--password <pass>] [-q|--quiet] [-s|--silent] [--no-table-headers] [--formatter table|pretty_table|json|csv]';

export function ctlUsage(action: string): string {
  const c = COMMANDS[action];
  return c ? `warren ctl ${CTL_GLOBAL_USAGE} ${c[2]}` : `warren ctl ${CTL_GLOBAL_USAGE} <command> [args ...]`;
}

/** Bad arguments: exit 64 as rabbitmqctl does, with its "argument validation" wording. */
function usageError(o: CtlOptions, action: string, message: string): number {
  o.err(`Error (argument validation): ${message}`);
  o.err(`Usage: ${ctlUsage(action)}`);
  return EX_USAGE;
}

async function list(o: CtlOptions, action: string, spec: ListSpec, args: string[]): Promise<number> {
  const arg = spec.argument ? args[0]! : '';
  const columns = !spec.argument && args.length ? args : spec.defaults;
  const unknown = columns.filter((c) => !Object.hasOwn(spec.columns, c));
  if (unknown.length) {
    return usageError(o, action, `Info key(s) ${unknown.join(',')} are not supported; must be one of ${Object.keys(spec.columns).join(', ')}`);
  }
  if (spec.defaultTimeout !== undefined) say(o, `Timeout: ${(o.timeout ?? spec.defaultTimeout).toFixed(1)} seconds ...`);
  say(o, spec.banner(o.vhost, arg));
  if (spec.vhostMustExist) await requireVhost(o);
  const path = spec.path.replace('{vhost}', enc(o.vhost)).replace('{arg}', enc(arg));
  const answer = (await call(o, 'GET', path).catch((e: unknown) => {
    if (!(e instanceof CtlError) || e.status !== 404) throw e;
    if (spec.argument) throw new CtlError(spec.argument.notFound(arg), EX_UNAVAILABLE);
    // list_queues, list_exchanges, list_bindings of a vhost that is not there: nothing, exit 0.
    if (spec.path.includes('{vhost}')) return [];
    throw e;
  })) as Row[];
  let rows = answer.filter((r) => !spec.filter || spec.filter(r, o.vhost));
  if (o.local || o.online || o.offline) rows = await byLocality(o, rows);
  const cells = rows.map((r) => Object.fromEntries(columns.map((c) => [c, spec.columns[c]!(r)])));
  for (const line of formatRows(cells, columns, o.formatter, o.tableHeaders && !spec.headerless)) o.out(line);
  return 0;
}

/**
 * list_queues --local: the queues whose leader is the node ctl talks to (whatever --online or
 * --offline say); --online / --offline: those whose node is running / is not (both: every queue),
 * as rabbitmqctl 3.10.8 selects them.
 */
async function byLocality(o: CtlOptions, rows: Row[]): Promise<Row[]> {
  if (o.local) {
    const { node } = (await call(o, 'GET', '/api/overview')) as { node: string };
    return rows.filter((r) => r.node === node);
  }
  if (o.online === o.offline) return rows;
  const nodes = (await call(o, 'GET', '/api/nodes')) as { name: string; running: boolean }[];
  const running = new Set(nodes.filter((n) => n.running).map((n) => n.name));
  return rows.filter((r) => running.has(String(r.node)) === o.online);
}

/** An informational line: not with -q, nor with a machine-readable formatter (as rabbitmqctl). */
function say(o: CtlOptions, line: string): void {
  if (!o.quiet && (o.formatter === 'table' || o.formatter === 'pretty_table')) o.out(line);
}

/** A JSON argument (a policy's definition, a parameter's value), or rabbitmqctl's exit 69. */
function jsonArgument(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CtlError(`JSON decoding error. Reason: ${(e as Error).message}`, EX_UNAVAILABLE);
  }
}

/** What rabbitmqctl 3.10.8's add_user prints after its banner. */
const ADD_USER_DONE = "Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.";

/**
 * A -p vhost that does not exist, as rabbitmqctl 3.10.8 reports it to the commands that read or set
 * a vhost's policies, parameters, limits or permissions list: the line alone, exit 65.
 */
const noVhost = (o: CtlOptions): CtlError => new CtlError(`Virtual host '${o.vhost}' does not exist`, EX_DATAERR, 0, '', true);

/** The same to set_permissions, clear_permissions and the topic permissions commands: "Error:", exit 69. */
const noVhostToGrant = (o: CtlOptions): CtlError => new CtlError(`Virtual host ${o.vhost} does not exist`, EX_UNAVAILABLE);

/** Throws noVhost's error unless the -p vhost exists (for API paths that would not say). */
async function requireVhost(o: CtlOptions, error = noVhost): Promise<void> {
  await call(o, 'GET', `/api/vhosts/${enc(o.vhost)}`).catch((e: unknown) => {
    throw e instanceof CtlError && e.status === 404 ? error(o) : e;
  });
}

/**
 * A refusal's reason from the API, as rabbitmqctl prints it: the API escapes it as HTML
 * (3.10.8's does too: `&lt;&lt;"x"&gt;&gt;` for the Erlang binary <<"x">>), rabbitmqctl does not;
 * its last line break is kept, as rabbitmqctl prints a blank line after "Validation failed" texts.
 */
const reasonText = (reason: string): string =>
  reason
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** delete_queue, with rabbitmqctl's wording for what it does and why it refused. */
async function deleteQueue(o: CtlOptions, name: string): Promise<number> {
  const conditions = [o.ifEmpty ? 'if queue is empty' : '', o.ifUnused ? 'if queue is unused' : ''].filter((c) => c !== '');
  say(o, `Deleting queue '${name}' on vhost '${o.vhost}'${conditions.length ? ' ' + conditions.join(' and ') : ''} ...`);
  const path = `/api/queues/${enc(o.vhost)}/${enc(name)}`;
  // rabbitmqctl 3.10 exits 64 for all three refusals below, so scripts may test for it.
  const q = (await call(o, 'GET', path).catch((e: unknown) => {
    throw e instanceof CtlError && /: 404 /.test(e.message) ? new CtlError('Queue not found', EX_USAGE) : e;
  })) as Row;
  const query = new URLSearchParams();
  if (o.ifEmpty) query.set('if-empty', 'true');
  if (o.ifUnused) query.set('if-unused', 'true');
  let refusedByType: string | null = null;
  await call(o, 'DELETE', query.toString() ? `${path}?${query.toString()}` : path).catch((e: unknown) => {
    if (!(e instanceof CtlError)) throw e;
    // A quorum queue refuses either flag: rabbitmqctl 3.10.8 prints the channel's error term as
    // Elixir shows it, and exits 0 (checked: `delete_queue qq --if-empty`).
    const byType = /: 400 cannot delete queue '.*'\. (queue\.delete operations with .* flag set are not supported by \w+ queues)/.exec(e.message);
    if (byType) {
      const erl = (s: string): string => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
      refusedByType = `{:protocol_error, :not_implemented, 'cannot delete ~s. ${byType[1]}', ['${erl(`queue '${name}' in vhost '${o.vhost}'`)}']}`;
      return;
    }
    // The API refuses with 400 "queue 'q' not empty" / "… in use".
    if (/: 400 .*not empty/.test(e.message)) throw new CtlError('Queue is not empty', EX_USAGE);
    if (/: 400 .*in use/.test(e.message)) throw new CtlError('Queue is in use', EX_USAGE);
    if (/: 404 /.test(e.message)) throw new CtlError('Queue not found', EX_USAGE);
    throw e;
  });
  if (refusedByType !== null) {
    o.out(refusedByType);
    return 0;
  }
  say(o, `Queue was successfully deleted with ${String(q.messages_ready)} ready messages`);
  return 0;
}

/** `help [CMD]`: the usage of every command, or of one with the columns it can print (as rabbitmqctl help). */
function help(o: CtlOptions, command: string | undefined): number {
  if (command === undefined) {
    o.out(`Usage: ${ctlUsage('')}`);
    o.out('');
    o.out('Commands:');
    for (const c of CTL_COMMANDS) o.out(`   ${COMMANDS[c]![2]}`);
    return 0;
  }
  if (!COMMANDS[command]) return usageError(o, 'help', `unknown command '${command}'; commands: ${CTL_COMMANDS.join(', ')}`);
  o.out(`Usage: ${ctlUsage(command)}`);
  const spec = LISTS[command];
  if (spec?.takesColumns) {
    o.out('');
    o.out('<column>');
    o.out(`\tmust be one of ${Object.keys(spec.columns).sort().join(', ')}`);
    o.out(`\tdefault: ${spec.defaults.join(' ')}`);
  }
  return 0;
}

/** A GET answered with status and body, for the health checks (diagnostics, wait). */
function healthGet(o: CtlOptions): (path: string) => Promise<{ status: number; body: Record<string, unknown> }> {
  return async (path) => {
    const { status, text } = await send(o, 'GET', path);
    if (status === 401 || status === 403) throw new CtlError(`GET ${path}: ${status} ${text}`, EX_NOPERM);
    // Health checks answer 503 with a body that says what failed: that is the check's result.
    if (!ok(status) && status !== 503) throw new CtlError(`GET ${path}: ${status} ${text}`, EX_SOFTWARE);
    return { status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
}

/** The diagnostics commands (ctl-diagnostics.ts), with their API calls answered with status and body. */
async function diagnose(o: CtlOptions, action: string): Promise<number> {
  return runDiagnostic(action, {
    get: healthGet(o),
    out: o.out,
    err: o.err,
    say: (l) => say(o, l),
    json: o.formatter === 'json',
    host: new URL(o.url).hostname,
    // rabbitmqctl's defaults: 70 s for node_health_check, 300 for await_startup.
    timeoutSeconds: o.timeout ?? (action === 'node_health_check' ? 70 : 300),
  });
}

/** close_all_connections: every connection of the -p vhost (or, with --global, of the broker), up to --limit. */
async function closeAll(o: CtlOptions, explanation: string): Promise<number> {
  const conns = (await call(o, 'GET', '/api/connections')) as Row[];
  const chosen = conns.filter((c) => o.global || c.vhost === o.vhost).slice(0, o.limit);
  if (o.global) say(o, `Closing all connections to the broker (across all vhosts), reason: ${explanation}...`);
  else if (o.limit < Number.MAX_SAFE_INTEGER) say(o, `Closing ${o.limit} connections in vhost ${o.vhost}, reason: ${explanation}...`);
  else say(o, `Closing all connections in vhost ${o.vhost}, reason: ${explanation}...`);
  let closed = 0;
  for (const c of chosen) {
    if (closed > 0 && o.perConnectionDelay > 0) await new Promise((r) => setTimeout(r, o.perConnectionDelay));
    // A connection that went away meanwhile is not an error.
    if (await fetchDelete(o, `/api/connections/${enc(String(c.name))}`, explanation).then(() => true, () => false)) closed++;
  }
  say(o, `Closed ${closed} connections`);
  return 0;
}

/** An Erlang pid as rabbitmqctl prints it (`<node.…>`); Warren's are `<node.connection id.0>`. */
const PID_SYNTAX = /^<[^<>\s]+\.\d+\.\d+>$/;

/**
 * close_connection: by pid, as rabbitmqctl takes it (`list_connections pid`), or by name, as the
 * management API does. A pid no connection has is not an error: 3.10.8 exits 0 then (the
 * connection went away meanwhile); a name none has exits 69.
 */
async function closeConnection(o: CtlOptions, target: string, explanation: string): Promise<number> {
  say(o, `Closing connection ${target}, reason: ${explanation}...`);
  let name = target;
  if (PID_SYNTAX.test(target)) {
    const conns = (await call(o, 'GET', '/api/connections?columns=pid,name')) as Row[];
    const found = conns.find((c) => c.pid === target);
    if (!found) return 0;
    name = String(found.name);
  }
  await fetchDelete(o, `/api/connections/${enc(name)}`, explanation).catch((e: unknown) => {
    if (!(e instanceof CtlError && e.status === 404)) throw e;
    if (name === target) throw new CtlError(`no connection named '${target}'`, EX_UNAVAILABLE);
  });
  return 0;
}

/** A user must exist for these commands: rabbitmqctl exits 67 (EX_NOUSER) with its text otherwise. */
async function existingUser(o: CtlOptions, name: string, quoted = true): Promise<Row> {
  return (await call(o, 'GET', `/api/users/${enc(name)}`).catch((e: unknown) => {
    if (e instanceof CtlError && e.status === 404) throw new CtlError(quoted ? `User "${name}" does not exist` : `User ${name} does not exist`, EX_NOUSER);
    throw e;
  })) as Row;
}

/** Runs one ctl command; resolves with the process exit code. */
export async function runCtl(action: string, args: string[], options: CtlOptions): Promise<number> {
  const o: CtlOptions = { ...options, operation: action };
  const arity = COMMANDS[action];
  if (!arity) return usageError(o, action, `unknown command '${action}'; commands: ${CTL_COMMANDS.join(', ')}`);
  if (args.length < arity[0]) return usageError(o, action, 'not enough arguments.');
  if (args.length > arity[1]) return usageError(o, action, `too many arguments: ${args.slice(arity[1]).join(' ')}`);
  const spec = LISTS[action];
  if (spec && !spec.takesColumns && args.length > (spec.argument ? 1 : 0)) return usageError(o, action, 'too many arguments.');
  const v = enc(o.vhost);
  try {
    if (spec) return await list(o, action, spec, args);
    if (DIAGNOSTICS.includes(action)) return await diagnose(o, action);
    if (action === 'wait') {
      if (args[0] === undefined && o.waitPid === undefined) return usageError(o, action, '"No pid or pidfile specified"');
      // Refused credentials end the wait; any other failure means "not up yet".
      const fatal = (e: unknown): boolean => e instanceof CtlError && e.code === EX_NOPERM;
      return await waitForBroker(args[0], o.waitPid, o.timeout === undefined ? undefined : o.timeout * 1000, { get: healthGet(o), say: (l) => say(o, l), err: o.err, url: o.url, fatal });
    }
    if (action in LIMIT_COMMANDS) {
      return await runLimits(action, args, o, (m, p, b) => call(o, m, p, b), (l) => say(o, l)).catch((e: unknown) => {
        if (e instanceof LimitsInputError) throw new CtlError(e.message, EX_UNAVAILABLE);
        // rabbitmqctl 3.10.8: exit 69 and the broker's validation text for refused limits.
        if (e instanceof CtlError && e.status === 400) throw new CtlError(reasonText(e.reason), EX_UNAVAILABLE);
        if (e instanceof CtlError && e.status === 404) {
          if (action.includes('user')) throw new CtlError(`User "${args[0] ?? o.username}" does not exist`, EX_NOUSER);
          // clear_vhost_limits has nothing to clear there (3.10.8: "Parameter does not exist").
          throw action === 'clear_vhost_limits' ? new CtlError('Parameter does not exist', EX_UNAVAILABLE) : noVhost(o);
        }
        throw e;
      });
    }
    const node = async (): Promise<string> => String(((await call(o, 'GET', '/api/overview')) as Row).node);
    if (action in ALARM_COMMANDS) {
      return await runAlarms(action, args, (m, p, b) => call(o, m, p, b), (l) => say(o, l), node).catch((e: unknown) => {
        if (!(e instanceof BadArgument)) throw e;
        // rabbitmqctl 3.10.8 exits 65 (EX_DATAERR) for a value it cannot take.
        usageError(o, action, e.message);
        return EX_DATAERR;
      });
    }
    if (action in NODE_COMMANDS) {
      const io = { call: (m: string, p: string, b?: unknown) => call(o, m, p, b), say: (l: string) => say(o, l), out: o.out, node, json: o.formatter === 'json', timeoutSeconds: o.timeout };
      return await runNodeCommand(action, args, io).catch((e: unknown) => {
        if (e instanceof NodeCommandError) throw new CtlError(e.message, e.code);
        // stop --idempotent: a broker that does not answer is already stopped.
        if (action === 'stop' && o.idempotent && e instanceof CtlError && e.code === EX_UNAVAILABLE) {
          say(o, `Node ${o.url} is no longer running`);
          return 0;
        }
        if (!(e instanceof NodeBadArgument)) throw e;
        usageError(o, action, e.message);
        return EX_DATAERR;
      });
    }
    if (action in FEDERATION_COMMANDS) {
      return await runFederation(action, args, o, (m, p, b) => call(o, m, p, b), (l) => say(o, l), node, o.onlyDown).catch((e: unknown) => {
        if (e instanceof LinkNotFound) throw new CtlError(e.message, EX_UNAVAILABLE);
        throw e;
      });
    }
    if (action in SHOVEL_COMMANDS) {
      return await runShovels(action, args, o, (m, p, b) => call(o, m, p, b), (l) => say(o, l), node).catch(async (e: unknown) => {
        // rabbitmqctl 3.10.8: exit 69, "Shovel with the given name was not found on the target node …".
        if (e instanceof ShovelNotFound) throw new CtlError(e.message.replace('{node}', await node()), EX_UNAVAILABLE);
        throw e;
      });
    }
    if (action === 'report') {
      return await runReport({
        node,
        vhosts: async () => ((await call(o, 'GET', '/api/vhosts')) as Row[]).map((r) => String(r.name)),
        run: (a, columns, vhost) => runCtl(a, [...columns], vhost === undefined ? options : { ...options, vhost }),
        say: (l) => say(o, l),
      });
    }
    switch (action) {
      case 'help':
        return help(o, args[0]);
      case 'status': {
        const ov = (await call(o, 'GET', '/api/overview')) as Row;
        const [node, vhosts] = (await Promise.all([call(o, 'GET', `/api/nodes/${enc(String(ov.node))}?memory=true`), call(o, 'GET', '/api/vhosts')])) as [Row, Row[]];
        const input = { overview: ov, node, vhostCount: vhosts.length };
        if (o.formatter === 'json') {
          o.out(JSON.stringify(statusJson(input)));
          return 0;
        }
        say(o, `Status of node ${String(ov.node)} ...`);
        for (const line of statusLines(input, o.unit)) o.out(line);
        return 0;
      }
      case 'cluster_status': {
        // rabbitmqctl cluster_status's sections, from /api/nodes (a single node lists itself).
        const [ov, nodes] = (await Promise.all([call(o, 'GET', '/api/overview'), call(o, 'GET', '/api/nodes')])) as [Row, Row[]];
        const names = nodes.map((n) => String(n.name));
        const running = nodes.filter((n) => n.running === true).map((n) => String(n.name));
        if (o.formatter === 'json') {
          o.out(JSON.stringify({ cluster_name: ov.cluster_name, disk_nodes: names, running_nodes: running, ram_nodes: [], alarms: [], network_partitions: {}, maintenance_status: {} }));
          return 0;
        }
        o.out(`Cluster status of node ${String(ov.node)} ...`);
        o.out('Basics\n');
        o.out(`Cluster name: ${String(ov.cluster_name)}\n`);
        o.out('Disk Nodes\n');
        for (const n of names) o.out(n);
        o.out('\nRunning Nodes\n');
        for (const n of running) o.out(n);
        o.out('\nNetwork Partitions\n');
        o.out('(none)');
        return 0;
      }
      case 'purge_queue':
        // rabbitmqctl 3.10.8 prints this line first, and nothing after it.
        say(o, `Purging queue '${args[0]}' in vhost '${o.vhost}' ...`);
        await call(o, 'DELETE', `/api/queues/${v}/${enc(args[0]!)}/contents`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError('not_found', EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      case 'delete_queue':
        return await deleteQueue(o, args[0]!);
      case 'close_all_connections':
        return await closeAll(o, args[0]!);
      case 'close_connection':
        return await closeConnection(o, args[0]!, args[1] ?? 'Closed via warren ctl');
      case 'add_user':
        say(o, `Adding user "${args[0]}" ...`);
        if (await call(o, 'GET', `/api/users/${enc(args[0]!)}`).then(() => true, () => false)) throw new CtlError(`User "${args[0]}" already exists`, EX_SOFTWARE);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password: args[1], tags: '' });
        // rabbitmqctl 3.10.8's reminder (not with -q; with --formatter json, its message object).
        if (o.formatter === 'json' && !o.quiet) o.out(JSON.stringify({ message: ADD_USER_DONE, node: await node(), status: 'ok' }));
        else say(o, ADD_USER_DONE);
        return 0;
      case 'delete_user':
        say(o, `Deleting user "${args[0]}" ...`);
        await existingUser(o, args[0]!);
        await call(o, 'DELETE', `/api/users/${enc(args[0]!)}`);
        return 0;
      case 'change_password': {
        say(o, `Changing password for user "${args[0]}" ...`);
        const u = await existingUser(o, args[0]!);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password: args[1], tags: u.tags });
        return 0;
      }
      case 'set_user_tags': {
        say(o, `Setting tags for user "${args[0]}" to [${args.slice(1).join(', ')}] ...`);
        const u = await existingUser(o, args[0]!);
        await call(o, 'PUT', `/api/users/${enc(args[0]!)}`, { password_hash: u.password_hash, tags: args.slice(1) });
        return 0;
      }
      case 'set_permissions':
        say(o, `Setting permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
        await existingUser(o, args[0]!, false);
        await call(o, 'PUT', `/api/permissions/${v}/${enc(args[0]!)}`, { configure: args[1], write: args[2], read: args[3] }).catch((e: unknown) => {
          throw e instanceof CtlError && e.status === 404 ? noVhostToGrant(o) : e;
        });
        return 0;
      case 'clear_permissions':
        say(o, `Clearing permissions for user "${args[0]}" in vhost "${o.vhost}" ...`);
        await existingUser(o, args[0]!, false);
        await requireVhost(o, noVhostToGrant);
        await call(o, 'DELETE', `/api/permissions/${v}/${enc(args[0]!)}`).catch((e: unknown) => {
          // No permissions there to clear is no error (rabbitmqctl exits 0).
          if (!(e instanceof CtlError && e.status === 404)) throw e;
        });
        return 0;
      case 'set_topic_permissions': {
        const [user, exchange, write, read] = args as [string, string, string, string];
        say(o, `Setting topic permissions on "${exchange}" for user "${user}" in vhost "${o.vhost}" ...`);
        await existingUser(o, user, false);
        // rabbitmqctl 3.10.8: a missing vhost or a bad pattern exit 69.
        await call(o, 'PUT', `/api/topic-permissions/${v}/${enc(user)}`, { exchange, write, read }).catch((e: unknown) => {
          if (!(e instanceof CtlError) || e.status !== 400) throw e;
          throw new CtlError(e.reason === 'vhost_or_user_not_found' ? `Virtual host ${o.vhost} does not exist` : e.reason, EX_UNAVAILABLE);
        });
        return 0;
      }
      case 'clear_topic_permissions': {
        const [user, exchange] = args as [string, string | undefined];
        say(o, exchange === undefined ? `Clearing topic permissions for user "${user}" in vhost "${o.vhost}" ...` : `Clearing topic permissions on "${exchange}" for user "${user}" in vhost "${o.vhost}" ...`);
        await existingUser(o, user, false);
        await requireVhost(o, noVhostToGrant);
        const path = `/api/topic-permissions/${v}/${enc(user)}`;
        // None there is no error (rabbitmqctl exits 0). One exchange's goes by ?exchange= (the
        // others are never cleared and put back).
        const had = (await call(o, 'GET', path).catch(() => [])) as Row[];
        if (!had.some((p) => exchange === undefined || p.exchange === exchange)) return 0;
        await call(o, 'DELETE', exchange === undefined ? path : `${path}?exchange=${enc(exchange)}`);
        return 0;
      }
      case 'add_vhost':
        say(o, `Adding vhost "${args[0]}" ...`);
        {
          const path = `/api/vhosts/${enc(args[0]!)}`;
          const isNew = await call(o, 'GET', path).then(
            () => false,
            () => true,
          );
          const body: Record<string, string> = {};
          if (o.description !== undefined) body.description = o.description;
          if (o.tags !== undefined) body.tags = o.tags;
          if (o.defaultQueueType !== undefined) body.default_queue_type = o.defaultQueueType;
          await call(o, 'PUT', path, body);
          // The API gives whoever creates a vhost full permissions on it; rabbitmqctl add_vhost
          // gives none, so take them back.
          if (isNew) await call(o, 'DELETE', `/api/permissions/${enc(args[0]!)}/${enc(o.username)}`);
        }
        return 0;
      case 'authenticate_user': {
        const [user, pass] = args as [string, string];
        say(o, `Authenticating user "${user}" ...`);
        // The API checks the password before the user's tags: a user it turns away for lacking a
        // management tag did authenticate.
        const res = await apiRequest(o.url, user, pass, 'GET', '/api/whoami', { timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000 });
        if (ok(res.status) || res.text.includes('Not management user')) {
          o.out('Success');
          return 0;
        }
        throw new CtlError(`Error: failed to authenticate user "${user}"\nuser '${user}' - invalid credentials`, EX_DATAERR);
      }
      case 'clear_password': {
        const user = args[0]!;
        say(o, `Clearing password for user "${user}" ...`);
        const existing = await call(o, 'GET', `/api/users/${enc(user)}`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError(`{:no_such_user, "${user}"}`, EX_UNAVAILABLE);
          throw e;
        });
        // No hash: no password logs the user in (rabbitmqctl clear_password), its tags kept.
        await call(o, 'PUT', `/api/users/${enc(user)}`, { password_hash: '', tags: (existing as Row).tags ?? '' });
        return 0;
      }
      case 'set_vhost_tags': {
        const [vhost, ...tags] = args as [string, ...string[]];
        say(o, `Setting tags for virtual host "${vhost}" to [${tags.join(', ')}] ...`);
        const path = `/api/vhosts/${enc(vhost)}`;
        await call(o, 'GET', path).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError(`Virtual host "${vhost}" does not exist`, EX_DATAERR);
          throw e;
        });
        await call(o, 'PUT', path, { tags });
        return 0;
      }
      case 'close_all_user_connections': {
        const [user, explanation] = args as [string, string];
        say(o, `Closing connections of user ${user}, reason: ${explanation}...`);
        const conns = (await call(o, 'GET', '/api/connections')) as Row[];
        // A connection that went away meanwhile is not an error; nor is a user with none.
        for (const c of conns.filter((x) => x.user === user)) await fetchDelete(o, `/api/connections/${enc(String(c.name))}`, explanation).catch(() => undefined);
        return 0;
      }
      case 'set_parameter': {
        // A vhost's runtime parameter: shovel, federation-upstream(-set), … (RabbitMQ's docs set
        // shovels and upstreams this way), through the API's PUT /api/parameters, which checks it.
        const [component, name, value] = args as [string, string, string];
        say(o, `Setting runtime parameter "${name}" for component "${component}" to "${value}" in vhost "${o.vhost}" ...`);
        const parsed = jsonArgument(value);
        await call(o, 'PUT', `/api/parameters/${enc(component)}/${v}/${enc(name)}`, { value: parsed }).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw noVhost(o);
          if (e instanceof CtlError && e.status === 400) throw new CtlError(reasonText(e.reason), EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      }
      case 'clear_parameter': {
        const [component, name] = args as [string, string];
        say(o, `Clearing runtime parameter "${name}" for component "${component}" on vhost "${o.vhost}" ...`);
        await call(o, 'DELETE', `/api/parameters/${enc(component)}/${v}/${enc(name)}`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError('Parameter does not exist', EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      }
      case 'list_node_auth_attempt_stats': {
        // The management API's counts (/api/auth/attempts): this command's own requests are HTTP
        // logins too, which rabbitmqctl, talking Erlang distribution, does not make.
        const nodeName = await node();
        say(o, `Listing authentication\n attempts for node "${nodeName}" ...`);
        const rows = (await call(o, 'GET', `/api/auth/attempts/${enc(nodeName)}${o.bySource ? '/source' : ''}`)) as Row[];
        const keys = [...(o.bySource ? ['remote_address', 'username'] : []), 'protocol', 'auth_attempts', 'auth_attempts_failed', 'auth_attempts_succeeded'];
        if (o.formatter === 'json') {
          // rabbitmqctl's object: each entry's keys sorted, as Erlang prints a map.
          const attempts = rows.map((r) => Object.fromEntries([...keys].sort().map((k) => [k, r[k]])));
          o.out(JSON.stringify({ attempts, node: nodeName, result: 'ok' }));
        } else if (rows.length === 0) o.out(`Node ${nodeName} reported no authentication attempt stats`);
        else for (const line of formatRows(rows, keys, o.formatter, o.tableHeaders)) o.out(line);
        return 0;
      }
      case 'enable_feature_flag': {
        // Every flag Warren knows is on already (feature-flags-api.ts): this checks the name.
        const [name] = args as [string];
        say(o, name === 'all' ? 'Enabling all feature flags ...' : `Enabling feature flag "${name}" ...`);
        if (name === 'all') return 0;
        await call(o, 'PUT', `/api/feature-flags/${enc(name)}/enable`, {}).catch(async (e: unknown) => {
          if (e instanceof CtlError && e.status === 400) throw new CtlError(`This feature flag is not supported by node ${await node()}`, EX_USAGE);
          throw e;
        });
        return 0;
      }
      case 'set_global_parameter': {
        const [name, value] = args as [string, string];
        say(o, `Setting global runtime parameter "${name}" to "${value}" ...`);
        const parsed = jsonArgument(value);
        await call(o, 'PUT', `/api/global-parameters/${enc(name)}`, { value: parsed });
        return 0;
      }
      case 'clear_global_parameter':
        say(o, `Clearing global runtime parameter "${args[0]}" ...`);
        await call(o, 'DELETE', `/api/global-parameters/${enc(args[0]!)}`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError('Parameter does not exist', EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      case 'set_cluster_name':
        say(o, `Setting cluster name to ${args[0]} ...`);
        await call(o, 'PUT', '/api/cluster-name', { name: args[0] });
        return 0;
      case 'trace_on':
      case 'trace_off': {
        const on = action === 'trace_on';
        say(o, `${on ? 'Starting' : 'Stopping'} tracing for vhost "${o.vhost}" ...`);
        const path = `/api/vhosts/${v}`;
        // rabbitmqctl says the same for a vhost that does not exist (there is nothing to trace);
        // a PUT would create it.
        const exists = await call(o, 'GET', path).then(
          () => true,
          (e: unknown) => {
            if (e instanceof CtlError && e.status === 404) return false;
            throw e;
          },
        );
        if (exists) await call(o, 'PUT', path, { tracing: on });
        const text = `Trace ${on ? 'enabled' : 'disabled'} for vhost ${o.vhost}`;
        if (o.formatter === 'json') o.out(JSON.stringify({ node: String(((await call(o, 'GET', '/api/overview')) as Row).node), result: 'ok', value: text }));
        else o.out(text);
        return 0;
      }
      case 'delete_vhost':
        say(o, `Deleting vhost "${args[0]}" ...`);
        await call(o, 'DELETE', `/api/vhosts/${enc(args[0]!)}`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError(`Virtual host '${args[0]}' does not exist`, EX_DATAERR, 0, '', true);
          throw e;
        });
        return 0;
      case 'set_policy':
      case 'set_operator_policy': {
        const [name, pattern, definition] = args as [string, string, string];
        const operator = action === 'set_operator_policy';
        say(
          o,
          `Setting ${operator ? 'operator policy override' : 'policy'} "${name}" for pattern "${pattern}" to "${definition}" with priority "${o.priority}" for vhost "${o.vhost}" ...`,
        );
        const parsed = jsonArgument(definition);
        const body = { pattern, definition: parsed, priority: o.priority, 'apply-to': o.applyTo };
        await call(o, 'PUT', `/api/${operator ? 'operator-policies' : 'policies'}/${v}/${enc(name)}`, body).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw noVhost(o);
          if (e instanceof CtlError && e.status === 400) throw new CtlError(reasonText(e.reason), EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      }
      case 'clear_policy':
      case 'clear_operator_policy': {
        const operator = action === 'clear_operator_policy';
        say(o, `Clearing ${operator ? 'operator policy' : 'policy'} "${args[0]}" on vhost "${o.vhost}" ...`);
        await call(o, 'DELETE', `/api/${operator ? 'operator-policies' : 'policies'}/${v}/${enc(args[0]!)}`).catch((e: unknown) => {
          if (e instanceof CtlError && e.status === 404) throw new CtlError('Parameter does not exist', EX_UNAVAILABLE);
          throw e;
        });
        return 0;
      }
      case 'export_definitions': {
        const defs = JSON.stringify(await call(o, 'GET', '/api/definitions'), null, 2);
        if (args[0] === '-') o.out(defs);
        else {
          writeFileSync(args[0]!, defs + '\n');
          say(o, `Exported definitions for all vhosts to "${args[0]}"`);
        }
        return 0;
      }
      case 'import_definitions': {
        const defs = JSON.parse(readFileSync(args[0]!, 'utf8')) as Record<string, unknown[] | undefined>;
        const n = ['vhosts', 'users', 'permissions', 'policies', 'exchanges', 'queues', 'bindings'].reduce((s, k) => s + (defs[k]?.length ?? 0), 0);
        say(o, `Importing definitions in JSON from a file at "${args[0]}" (${n} objects) ...`);
        const t0 = Date.now();
        try {
          await call(o, 'POST', '/api/definitions', defs);
        } catch (e) {
          // rabbitmqctl 3.10.8 exits 69 when the broker refuses the file (an unknown exchange type, a
          // missing user: both checked).
          if (e instanceof CtlError && e.status === 400) throw new CtlError(e.message, EX_UNAVAILABLE, e.status, e.reason);
          throw e;
        }
        say(o, `Imported ${n} objects in ${Date.now() - t0} ms`);
        return 0;
      }
      default:
        // COMMANDS and this switch disagree: a bug here, not a usage error.
        throw new Error(`warren ctl: command '${action}' has no implementation`);
    }
  } catch (e) {
    if (e instanceof CtlError) {
      // As rabbitmqctl: "Error:" and the reason on stderr.
      if (!e.bare) o.err('Error:');
      o.err(e.message);
      return e.code;
    }
    throw e;
  }
}

async function fetchDelete(o: CtlOptions, path: string, reason: string): Promise<void> {
  const res = await send(o, 'DELETE', path, { headers: { 'x-reason': reason } });
  if (!ok(res.status)) throw new CtlError(`DELETE ${path}: ${res.status} ${res.text}`, res.status === 401 || res.status === 403 ? EX_NOPERM : EX_SOFTWARE, res.status);
}
