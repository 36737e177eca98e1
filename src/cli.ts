#!/usr/bin/env -S node --max-semi-space-size=64 --v8-pool-size=1
// (The V8 flags above, also in `npm start` and the Docker image: see README, The publish path.)
// The `warren` command: `warren ctl …` is the control tool, anything else starts the broker. Each
// is loaded only when asked for: a ctl call does not load the broker, its store, the management
// server and the cluster client (0.7 s a call before, 0.2 s now: `warren ctl` is run by the
// dozen from scripts and health checks). Nor yargs: `yargs/helpers` alone loads its platform
// shim and help formatter (cliui, string-width and its ICU segmenter; `warren ctl --help` took
// 0.30 s with it, 0.20 s without); ctl parses its own arguments, and for `node cli.js …`
// hideBin's answer is argv past the script.
import process from 'node:process';
const args = process.argv.slice(2);
if (args[0] === 'ctl') {
  const { ctlMain } = await import('./ctl-main.js');
  process.exit(await ctlMain(args.slice(1)));
}
await import('./broker-main.js');
