// `warren ctl` argument parsing. Strict on purpose: a flag ctl does not know is an error, never
// ignored, because an ignored `--if-empty` deleted a queue holding 5,000 messages. Hand-written
// rather than yargs so that only the flags listed here exist (no `--no-x` negations, camelCase
// twins or "unknown flag takes the next word as its value").
import process from 'node:process';
import { STATUS_UNITS, unitRefusal, type StatusUnit } from './ctl-status.js';

/** rabbitmqctl's exit code for bad usage (sysexits EX_USAGE). */
export const EX_USAGE = 64;

export class UsageError extends Error {}

export const FORMATTERS = ['table', 'pretty_table', 'json', 'csv'] as const;
export type Formatter = (typeof FORMATTERS)[number];

export interface CtlArgs {
  action: string;
  args: string[];
  url: string;
  username: string;
  password: string;
  vhost: string;
  /** -q/--quiet (and -s/--silent): no informational lines such as "Listing queues …". */
  quiet: boolean;
  /** false with --no-table-headers (and -s/--silent). */
  tableHeaders: boolean;
  formatter: Formatter;
  ifEmpty: boolean;
  ifUnused: boolean;
  /** federation_status --only-down: the links not running. */
  onlyDown: boolean;
  /** set_policy's --priority and --apply-to, as rabbitmqctl's. */
  priority: number;
  applyTo: string;
  /** add_vhost's --description, --tags and --default-queue-type (rabbitmqctl 3.11+); undefined when not given. */
  description: string | undefined;
  tags: string | undefined;
  defaultQueueType: string | undefined;
  /**
   * -t/--timeout (rabbitmqctl's general option), seconds: how long each request to the API may
   * take, and how long await_startup waits (300 when not given); undefined when not given.
   */
  timeout: number | undefined;
  /** close_all_connections' --global, --limit and --per-connection-delay. */
  global: boolean;
  limit: number;
  perConnectionDelay: number;
  /** list_user_limits' --user; undefined: the user ctl logs in as. */
  limitsUser: string | undefined;
  /** status --unit: what memory and disk figures are printed in (rabbitmqctl's default, gb). */
  unit: StatusUnit;
  /** list_node_auth_attempt_stats --by-source. */
  bySource: boolean;
  /**
   * list_queues --local (queues whose leader is the node ctl talks to), --online and --offline
   * (queues on nodes running or not), as rabbitmqctl's.
   */
  local: boolean;
  online: boolean;
  offline: boolean;
  /** stop --idempotent: a broker that is not running is not an error. */
  idempotent: boolean;
  /** wait --pid: the broker's process id, instead of a pid file. */
  waitPid: number | undefined;
  help: boolean;
}

/** The queue types rabbitmqctl add_vhost --default-queue-type takes; the broker refuses one it has not registered. */
export const QUEUE_TYPES = ['classic', 'quorum', 'stream'] as const;

interface FlagSpec {
  names: string[];
  /** Takes a value (`--url X` or `--url=X`); otherwise a boolean switch. */
  value: boolean;
  apply(a: CtlArgs, v: string): void;
  /** Only these commands accept it; every command when absent. */
  commands?: string[];
}

function nonNegative(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`option ${flag} takes a non-negative integer, not '${v}'`);
  return Number(v);
}

const FLAGS: FlagSpec[] = [
  { names: ['--url'], value: true, apply: (a, v) => (a.url = v) },
  { names: ['-u', '--username'], value: true, apply: (a, v) => (a.username = v) },
  { names: ['--password'], value: true, apply: (a, v) => (a.password = v) },
  { names: ['-p', '--vhost'], value: true, apply: (a, v) => (a.vhost = v) },
  { names: ['-q', '--quiet'], value: false, apply: (a) => (a.quiet = true) },
  {
    names: ['-s', '--silent'],
    value: false,
    apply: (a) => {
      a.quiet = true;
      a.tableHeaders = false;
    },
  },
  { names: ['--no-table-headers'], value: false, apply: (a) => (a.tableHeaders = false) },
  {
    names: ['--formatter'],
    value: true,
    apply: (a, v) => {
      if (!(FORMATTERS as readonly string[]).includes(v)) throw new UsageError(`unknown formatter '${v}'; formatters: ${FORMATTERS.join(', ')}`);
      a.formatter = v as Formatter;
    },
  },
  // rabbitmqctl's -u means --if-unused; here -u is --username (as in rabbitmqadmin), so only the long form.
  { names: ['-e', '--if-empty'], value: false, apply: (a) => (a.ifEmpty = true), commands: ['delete_queue'] },
  { names: ['--if-unused'], value: false, apply: (a) => (a.ifUnused = true), commands: ['delete_queue'] },
  { names: ['--only-down'], value: false, apply: (a) => (a.onlyDown = true), commands: ['federation_status'] },
  {
    names: ['--priority'],
    value: true,
    apply: (a, v) => {
      if (!/^-?\d+$/.test(v)) throw new UsageError(`option --priority takes an integer, not '${v}'`);
      a.priority = Number(v);
    },
    commands: ['set_policy', 'set_operator_policy'],
  },
  { names: ['--apply-to'], value: true, apply: (a, v) => (a.applyTo = v), commands: ['set_policy', 'set_operator_policy'] },
  { names: ['--description'], value: true, apply: (a, v) => (a.description = v), commands: ['add_vhost'] },
  { names: ['--tags'], value: true, apply: (a, v) => (a.tags = v), commands: ['add_vhost'] },
  {
    names: ['--default-queue-type'],
    value: true,
    apply: (a, v) => {
      if (!(QUEUE_TYPES as readonly string[]).includes(v)) throw new UsageError(`option --default-queue-type takes one of ${QUEUE_TYPES.join(', ')}, not '${v}'`);
      a.defaultQueueType = v;
    },
    commands: ['add_vhost'],
  },
  { names: ['-t', '--timeout'], value: true, apply: (a, v) => (a.timeout = nonNegative('--timeout', v)) },
  { names: ['--global'], value: false, apply: (a) => (a.global = true), commands: ['close_all_connections', 'list_vhost_limits', 'list_user_limits'] },
  { names: ['--local'], value: false, apply: (a) => (a.local = true), commands: ['list_queues', 'list_unresponsive_queues'] },
  { names: ['--online'], value: false, apply: (a) => (a.online = true), commands: ['list_queues'] },
  { names: ['--offline'], value: false, apply: (a) => (a.offline = true), commands: ['list_queues'] },
  { names: ['--idempotent'], value: false, apply: (a) => (a.idempotent = true), commands: ['stop'] },
  { names: ['--by-source'], value: false, apply: (a) => (a.bySource = true), commands: ['list_node_auth_attempt_stats'] },
  { names: ['--user'], value: true, apply: (a, v) => (a.limitsUser = v), commands: ['list_user_limits'] },
  { names: ['--limit'], value: true, apply: (a, v) => (a.limit = nonNegative('--limit', v)), commands: ['close_all_connections'] },
  { names: ['--per-connection-delay'], value: true, apply: (a, v) => (a.perConnectionDelay = nonNegative('--per-connection-delay', v)), commands: ['close_all_connections'] },
  {
    names: ['--unit'],
    value: true,
    apply: (a, v) => {
      if (!(STATUS_UNITS as readonly string[]).includes(v.toLowerCase())) throw new UsageError(unitRefusal(v));
      a.unit = v.toLowerCase() as StatusUnit;
    },
    commands: ['status'],
  },
  {
    names: ['-P', '--pid'],
    value: true,
    apply: (a, v) => {
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`option --pid takes a process id, not '${v}'`);
      a.waitPid = Number(v);
    },
    commands: ['wait'],
  },
  { names: ['-h', '-?', '--help'], value: false, apply: (a) => (a.help = true) },
];

const byName = new Map(FLAGS.flatMap((f) => f.names.map((n) => [n, f] as const)));

/** Parses everything after `warren ctl`; throws UsageError for anything it does not understand. */
export function parseCtlArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CtlArgs {
  const a: CtlArgs = {
    action: '',
    args: [],
    url: env.WARREN_MANAGEMENT_URL ?? 'http://127.0.0.1:15672',
    username: 'guest',
    password: 'guest',
    vhost: '/',
    quiet: false,
    tableHeaders: true,
    formatter: 'table',
    ifEmpty: false,
    ifUnused: false,
    onlyDown: false,
    priority: 0,
    applyTo: 'all',
    description: undefined,
    tags: undefined,
    defaultQueueType: undefined,
    timeout: undefined,
    global: false,
    local: false,
    online: false,
    offline: false,
    bySource: false,
    limit: Number.MAX_SAFE_INTEGER,
    perConnectionDelay: 0,
    limitsUser: undefined,
    unit: 'gb',
    waitPid: undefined,
    idempotent: false,
    help: false,
  };
  const positional: string[] = [];
  const given: FlagSpec[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    // A lone '-' is a value (export_definitions -), as are negative-looking words after '--'.
    if (!word.startsWith('-') || word === '-') {
      positional.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const name = word.startsWith('--') && eq > 0 ? word.slice(0, eq) : word;
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown option ${name}`);
    let value = '';
    if (spec.value) {
      if (name !== word) value = word.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`option ${name} needs a value`);
      if (value === '' && name !== '--password') throw new UsageError(`option ${name} needs a value`);
    } else if (name !== word) {
      throw new UsageError(`option ${name} takes no value`);
    }
    spec.apply(a, value);
    given.push(spec);
  }
  a.action = positional[0] ?? '';
  a.args = positional.slice(1);
  if (a.help) return a;
  if (a.action === '') throw new UsageError('no command given');
  for (const f of given) {
    if (f.commands && !f.commands.includes(a.action)) {
      throw new UsageError(`option ${f.names[f.names.length - 1]} is not valid for ${a.action} (only for ${f.commands.join(', ')})`);
    }
  }
  return a;
}
