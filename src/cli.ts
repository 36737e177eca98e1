#!/usr/bin/env node
// The `warren` command: flags (each also settable by a WARREN_* environment variable), signals.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Broker } from './server/broker.js';
import { defaultOptions } from './server/options.js';

const argv = yargs(hideBin(process.argv))
  .scriptName('warren')
  .usage('$0 [options]\n\nAn AMQP 0-9-1 message broker. Every option can also be set as WARREN_<OPTION>, e.g. WARREN_PORT=5673.')
  .env('WARREN')
  .option('port', { type: 'number', default: defaultOptions.port, describe: 'TCP port to listen on (0 = any free port)' })
  .option('host', { type: 'string', default: defaultOptions.host, describe: 'address to listen on' })
  .option('data-dir', { type: 'string', describe: 'directory of the LevelDB store; in memory when absent' })
  .option('log-level', {
    type: 'string',
    default: defaultOptions.logLevel,
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  })
  .option('heartbeat', { type: 'number', default: defaultOptions.heartbeat, describe: 'heartbeat interval proposed to clients, seconds' })
  .option('frame-max', { type: 'number', default: defaultOptions.frameMax, describe: 'largest frame proposed to clients, bytes' })
  .option('channel-max', { type: 'number', default: defaultOptions.channelMax, describe: 'most channels per connection' })
  .option('default-user', { type: 'string', default: defaultOptions.defaultUser })
  .option('default-pass', { type: 'string', default: defaultOptions.defaultPass })
  .option('max-message-size', { type: 'number', default: defaultOptions.maxMessageSize, describe: 'largest message body, bytes' })
  .option('management-port', { type: 'number', default: defaultOptions.managementPort, describe: 'management HTTP API and UI port (0 = off)' })
  .option('management-host', { type: 'string', default: defaultOptions.managementHost, describe: 'address the management API listens on' })
  .option('fsync', { type: 'boolean', default: false, describe: 'fsync every store batch (survive power loss, slower)' })
  .strict()
  .help()
  .parseSync();

const broker = new Broker({
  port: argv.port,
  host: argv.host,
  dataDir: argv['data-dir'],
  logLevel: argv['log-level'],
  heartbeat: argv.heartbeat,
  frameMax: argv['frame-max'],
  channelMax: argv['channel-max'],
  defaultUser: argv['default-user'],
  defaultPass: argv['default-pass'],
  maxMessageSize: argv['max-message-size'],
  fsync: argv.fsync,
  managementPort: argv['management-port'],
  managementHost: argv['management-host'],
});

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  broker.log.info({ signal }, 'signal received');
  broker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      broker.log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

broker.start().catch((err: unknown) => {
  broker.log.fatal({ err }, 'failed to start');
  process.exit(1);
});
