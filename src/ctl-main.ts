// `warren ctl` as a process: parses its arguments, runs the command, and answers with the exit code
// (64, rabbitmqctl's EX_USAGE, for arguments it does not understand).
import { EX_USAGE, parseCtlArgs, UsageError, type CtlArgs } from './ctl-args.js';
import { CTL_COMMANDS, ctlUsage, runCtl } from './ctl.js';

const HELP = `Usage: ${ctlUsage('')}

Talks to a running broker through its management API, as rabbitmqctl does to a RabbitMQ node.
Commands: ${CTL_COMMANDS.join(', ')}

  --url <url>            management API (default $WARREN_MANAGEMENT_URL or http://127.0.0.1:15672)
  -u, --username <user>  management API user (default guest)
  --password <pass>      its password (default guest)
  -p, --vhost <vhost>    virtual host for commands scoped to one (default /)
  -q, --quiet            no informational lines ("Listing queues for vhost / ...")
  -s, --silent           --quiet and --no-table-headers
  --no-table-headers     no header line above the rows
  --formatter <name>     table (default), pretty_table, json or csv
  -e, --if-empty         delete_queue: only when the queue has no ready messages
  --if-unused            delete_queue: only when the queue has no consumers
  -t, --timeout <s>      seconds each API request may take (exit 75 past it);
                         await_startup: seconds to wait (default 300); wait: no limit by default
  --local, --online, --offline
                         list_queues: the queues led by this node, on running nodes, on stopped ones
  --unit <unit>          status: bytes, kb, mb, gb (default) or tb
  -P, --pid <pid>        wait: the broker's process id, instead of a pid file
  --global, --limit <n>, --per-connection-delay <ms>
                         close_all_connections: every vhost, at most n, a pause between closes
  help <command>         a command's usage and the columns it can print
  -h, --help             this text`;

export async function ctlMain(argv: string[]): Promise<number> {
  let a: CtlArgs;
  try {
    a = parseCtlArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`Error (argument validation): ${e.message}`);
    console.error(`Arguments given:\n\t${argv.join(' ')}`);
    console.error(`Usage: ${ctlUsage(argv.find((w) => CTL_COMMANDS.includes(w)) ?? '')}`);
    return EX_USAGE;
  }
  if (a.help) {
    console.log(a.action ? `Usage: ${ctlUsage(a.action)}` : HELP);
    return 0;
  }
  return runCtl(a.action, a.args, {
    ...a,
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  });
}
