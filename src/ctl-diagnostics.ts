// The rabbitmq-diagnostics checks people put in probes, as `warren ctl` commands: ping, check_running,
// check_local_alarms, check_alarms, check_port_connectivity, check_virtual_hosts, await_startup,
// environment. Their lines and exit codes follow RabbitMQ 3.10.8's (a failed check exits 69 with
// "Error:" and the reason on stderr; `--formatter json` prints the JSON object rabbitmq-diagnostics
// prints). They ask the broker through its management API's health-check endpoints.
import { connect } from 'node:net';

/** What a diagnostics command needs: an API call that returns status and JSON body, and output. */
export interface DiagnosticsIo {
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  out(line: string): void;
  err(line: string): void;
  say(line: string): void;
  json: boolean;
  /** Host of the management URL: listeners are tried there. */
  host: string;
  /** await_startup's --timeout, seconds. */
  timeoutSeconds: number;
}

/** sysexits EX_UNAVAILABLE: rabbitmq-diagnostics' exit code for a failed check or an unreachable node. */
export const EX_UNAVAILABLE = 69;

export const DIAGNOSTICS = ['ping', 'check_running', 'check_local_alarms', 'check_alarms', 'check_port_connectivity', 'check_virtual_hosts', 'await_startup', 'environment', 'node_health_check'];

/** What rabbitmqctl 3.10.8 prints before node_health_check, which it keeps for old scripts. */
const HEALTH_CHECK_DEPRECATED = [
  'This command is DEPRECATED and will be removed in a future version.',
  'It performs intrusive, opinionated health checks and requires a fully booted node.',
  'Use one of the options covered in https://www.rabbitmq.com/monitoring.html#health-checks instead.',
];

type Alarm = { node: string; resource: string };

/** RabbitMQ's wording of an alarm ("Free disk space alarm on node …", "Memory alarm on node …"). */
const alarmText = (a: Alarm): string => `${a.resource === 'disk space' ? 'Free disk space' : 'Memory'} alarm on node ${a.node}`;

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 5_000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export async function runDiagnostic(action: string, io: DiagnosticsIo): Promise<number> {
  const overview = async (): Promise<Record<string, unknown>> => (await io.get('/api/overview')).body;
  switch (action) {
    case 'ping': {
      const node = String((await overview()).node);
      if (io.json) io.out(JSON.stringify({ message: 'Ping succeeded' }));
      else {
        io.say(`Will ping ${node}. This only checks that the broker answers on its management API.`);
        io.out('Ping succeeded');
      }
      return 0;
    }
    case 'node_health_check': {
      const node = String((await overview()).node);
      for (const line of HEALTH_CHECK_DEPRECATED) io.say(line);
      io.say(`Timeout: ${io.timeoutSeconds} seconds ...`);
      io.say(`Checking health of node ${node} ...`);
      const r = await io.get('/api/healthchecks/node');
      if (r.status !== 200 || r.body.status !== 'ok') {
        io.err('Error:');
        io.err(String(r.body.reason ?? `Health check failed (${r.status})`));
        return EX_UNAVAILABLE;
      }
      io.out('Health check passed');
      return 0;
    }
    case 'check_running': {
      const node = String((await overview()).node);
      io.say(`Checking if Warren is running on node ${node} ...`);
      const message = `Warren on node ${node} is fully booted and running`;
      io.out(io.json ? JSON.stringify({ message }) : message);
      return 0;
    }
    case 'check_local_alarms':
    case 'check_alarms': {
      const local = action === 'check_local_alarms';
      const node = String((await overview()).node);
      io.say(`Asking node ${node} to report any ${local ? 'local' : 'known'} resource alarms ...`);
      const r = await io.get(local ? '/api/health/checks/local-alarms' : '/api/health/checks/alarms');
      const alarms = ((r.body.alarms as Alarm[] | undefined) ?? []).map(alarmText);
      if (alarms.length === 0) {
        const message = local ? `Node ${node} reported no local alarms` : `Node ${node} reported no alarms, local or clusterwide`;
        io.out(io.json ? JSON.stringify({ message, result: 'ok' }) : message);
        return 0;
      }
      if (io.json) io.out(JSON.stringify({ [local ? 'local' : 'alarms']: alarms, message: `Node ${node} reported ${local ? 'local ' : ''}alarms`, result: 'error' }));
      else {
        io.err('Error:');
        for (const a of alarms) io.err(a);
      }
      return EX_UNAVAILABLE;
    }
    case 'check_port_connectivity': {
      const ov = await overview();
      const node = String(ov.node);
      io.say(`Testing TCP connections to all active listeners on node ${node} ...`);
      const listeners = (ov.listeners as { port: number; protocol: string }[] | undefined) ?? [];
      const results = await Promise.all(listeners.map(async (l) => ({ ...l, ok: await tryConnect(io.host, l.port) })));
      const bad = results.filter((l) => !l.ok);
      if (bad.length === 0) {
        if (io.json) io.out(JSON.stringify({ listeners: listeners.map((l) => ({ ...l, node })), node, result: 'ok' }));
        else io.out(`Successfully connected to ports ${listeners.map((l) => l.port).join(', ')} on node ${node}.`);
        return 0;
      }
      if (io.json) io.out(JSON.stringify({ listeners: bad.map(({ ok: _ok, ...l }) => ({ ...l, node })), node, result: 'error' }));
      else {
        io.err('Error:');
        io.err(`Connection to ports of the following listeners on node ${node} failed: ${bad.map((l) => `${l.protocol} on port ${l.port}`).join(', ')}`);
      }
      return EX_UNAVAILABLE;
    }
    case 'check_virtual_hosts': {
      const node = String((await overview()).node);
      io.say(`Checking if all vhosts are running on node ${node} ...`);
      const r = await io.get('/api/health/checks/virtual-hosts');
      if (r.status === 200) {
        io.out(io.json ? JSON.stringify({ result: 'ok' }) : `Node ${node} reported all vhosts as running`);
        return 0;
      }
      io.err('Error:');
      io.err(`Some virtual hosts are down on node ${node}`);
      return EX_UNAVAILABLE;
    }
    case 'await_startup': {
      // As rabbitmqctl await_startup: waits (quietly) until the broker answers, or fails after --timeout.
      const until = Date.now() + io.timeoutSeconds * 1000;
      for (;;) {
        const up = await io.get('/api/health/checks/virtual-hosts').then(
          (r) => r.status === 200,
          () => false,
        );
        if (up) return 0;
        if (Date.now() >= until) {
          io.err('Error:');
          io.err(`Warren did not start within ${io.timeoutSeconds} seconds`);
          return EX_UNAVAILABLE;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    case 'environment': {
      const env = (await io.get('/api/environment')).body;
      if (io.json) io.out(JSON.stringify(env));
      else {
        io.say(`Application environment of node ${String((await overview()).node)} ...`);
        for (const k of Object.keys(env).sort()) io.out(`${k}: ${JSON.stringify(env[k])}`);
      }
      return 0;
    }
  }
  throw new Error(`not a diagnostics command: ${action}`);
}
