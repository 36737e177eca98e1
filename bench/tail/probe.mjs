// Loaded into the broker under test with `node --import bench/tail/probe.mjs dist/cli.js …`:
// records every garbage collection (when it started, wall clock in ms, and how long it paused the
// main thread) and every stall of the event loop (a 1 ms timer that fired more than 2 ms late:
// when, and by how much), and writes them as JSON to $TAIL_PROBE_OUT when the process exits. The
// timer costs the broker about a thousand wake-ups a second. Benchmark only.
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

const out = process.env.TAIL_PROBE_OUT;
const kinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};
const gcs = [];
const stalls = [];
if (out) {
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 3) stalls.push([performance.timeOrigin + last + 1, now - last - 1]);
    last = now;
  }, 1).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration, kinds[e.detail?.kind] ?? String(e.detail?.kind)]);
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => writeFileSync(out, JSON.stringify({ gcs, stalls })));
}
