// The goperf scenarios (issue 14's table), in the shape of bench/scenarios/*.mjs ({ name, title,
// metrics, run }) so run.mjs interleaves and reports them the same way. Every one is one goperf
// run: 1 producer and 1 consumer connection unless said otherwise, prefetch 1000, acks with
// multiple every 100, confirm window 1000, 16-byte bodies (goperf's defaults).
import { runGoperf } from './goperf.mjs';

const MiB = 1024 * 1024;
const m = (r, key) => r.metrics[key] ?? undefined; // goperf writes null for what it could not measure
const peakRssMiB = (r) => (r.brokerRssKiB?.peak ?? NaN) / 1024;

/**
 * A scenario running `goperf -scenario <scenario> ...flags`; metrics: [{ key, label, better,
 * from(result) }]. minSeconds: the measured window is at least this long, whatever --seconds says.
 */
function goperfScenario({ name, title, scenario, flags = [], metrics, minSeconds = 0 }) {
  return {
    name,
    title,
    client: 'goperf',
    metrics,
    minSeconds,
    async run({ broker, seconds, warmup, args }) {
      const r = await runGoperf(args.goperf, { url: broker.url, pid: broker.pid, scenario, seconds: Math.max(seconds, minSeconds), warmup, flags });
      return {
        values: Object.fromEntries(metrics.map((x) => [x.key, x.from(r)])),
        clientCpu: { goperf: r.harnessCpuPct },
        broker: { cpu: r.brokerCpuPct ?? undefined, maxRss: r.brokerRssKiB?.peak ? r.brokerRssKiB.peak * 1024 : undefined },
        notes: [...(r.events ?? []), ...(r.errors ?? [])],
      };
    },
  };
}

const latencyScenario = (rate) =>
  goperfScenario({
    name: `latency-${rate / 1000}k`,
    title: `steady rate ${rate.toLocaleString('en-US')} msgs/s`,
    scenario: 'latency',
    flags: ['-rate', String(rate)],
    // A p99.9 needs samples above it: 4 s at 5,000 msgs/s leave 20, and both brokers' tails varied
    // 3-8x from run to run on the thirty-fifth session's VM. 15 s leave 75.
    minSeconds: 15,
    metrics: [
      { key: 'p50', label: 'p50 µs', better: 'lower', from: (r) => m(r, 'e2e latency p50 µs') },
      { key: 'p99', label: 'p99 µs', better: 'lower', from: (r) => m(r, 'e2e latency p99 µs') },
      { key: 'p999', label: 'p99.9 µs', better: 'lower', from: (r) => m(r, 'e2e latency p99.9 µs') },
      { key: 'consumed', label: 'consumed msgs/s', better: 'higher', from: (r) => m(r, 'consumed msgs/s') },
    ],
  });

/** Large bodies through the transient or persistent flow: consumed MiB/s and the broker's peak RSS. */
const bodyScenario = (kind, size) =>
  goperfScenario({
    name: `${kind}-${size >= MiB ? `${size / MiB}m` : `${size / 1024}k`}`,
    title: `${size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`} bodies, ${kind === 'transient' ? 'transient' : 'persistent + confirms'}, 1 pub → 1 con`,
    scenario: kind,
    flags: ['-body', String(size)],
    metrics: [
      { key: 'consumedMiB', label: 'consumed MiB/s', better: 'higher', from: (r) => (m(r, 'consumed msgs/s') * size) / MiB },
      { key: 'peakRss', label: 'broker peak RSS, MiB', better: 'lower', from: peakRssMiB },
    ],
  });

export const GOPERF_SCENARIOS = [
  goperfScenario({
    name: 'transient',
    title: 'transient, 1 pub → 1 con',
    scenario: 'transient',
    metrics: [
      { key: 'consumed', label: 'consumed msgs/s', better: 'higher', from: (r) => m(r, 'consumed msgs/s') },
      { key: 'published', label: 'published msgs/s', better: 'higher', from: (r) => m(r, 'published msgs/s') },
    ],
  }),
  goperfScenario({
    name: 'persistent',
    title: 'persistent + confirms, 1 pub → 1 con',
    scenario: 'persistent',
    metrics: [
      { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher', from: (r) => m(r, 'confirmed msgs/s') },
      { key: 'consumed', label: 'consumed msgs/s', better: 'higher', from: (r) => m(r, 'consumed msgs/s') },
    ],
  }),
  goperfScenario({
    name: 'persistent-publish',
    title: 'persistent publish-only (queue grows)',
    scenario: 'persistent-publish',
    metrics: [{ key: 'confirmed', label: 'confirmed msgs/s', better: 'higher', from: (r) => m(r, 'confirmed msgs/s') }],
  }),
  goperfScenario({
    name: 'rpc',
    title: 'RPC, 1 outstanding call',
    scenario: 'rpc',
    metrics: [
      { key: 'roundtrips', label: 'round trips/s', better: 'higher', from: (r) => m(r, 'round trips/s') },
      { key: 'p50', label: 'p50 µs', better: 'lower', from: (r) => m(r, 'latency p50 µs') },
      { key: 'p99', label: 'p99 µs', better: 'lower', from: (r) => m(r, 'latency p99 µs') },
    ],
  }),
  goperfScenario({
    name: 'fanout',
    title: 'fan-out to 4 queues',
    scenario: 'fanout',
    metrics: [
      { key: 'delivered', label: 'delivered msgs/s (total)', better: 'higher', from: (r) => m(r, 'delivered msgs/s (all queues)') },
      { key: 'published', label: 'published msgs/s', better: 'higher', from: (r) => m(r, 'published msgs/s') },
    ],
  }),
  latencyScenario(5000),
  latencyScenario(50000),
  bodyScenario('transient', 64 * 1024),
  bodyScenario('persistent', 64 * 1024),
  bodyScenario('transient', MiB),
  bodyScenario('persistent', MiB),
];
