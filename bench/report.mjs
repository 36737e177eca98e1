// Turns the collected runs into the markdown report: one section per client (goperf, amqplib),
// each a table of medians with Warren's ratio to every other broker, then the brokers' CPU and RSS.
import { fmt, median } from './stats.mjs';

export const BROKER_LABEL = { warren: 'Warren', lavinmq: 'LavinMQ', rabbitmq: 'RabbitMQ', null: 'null broker' };
const KINDS = ['warren', 'lavinmq', 'rabbitmq', 'null'];
const OTHERS = ['lavinmq', 'rabbitmq']; // Warren's ratio is to each of these

const ok = (runs) => (runs ?? []).filter((r) => !r.error);
const med = (runs, f) => median(ok(runs).map(f));

/** Median CPU% per client process name over runs: "pub 97 · con 55". */
const cpuCell = (runs) => {
  const names = [...new Set(ok(runs).flatMap((r) => Object.keys(r.clientCpu ?? {})))];
  return names.map((n) => `${n} ${fmt(med(runs, (r) => r.clientCpu?.[n]), 0)}`).join(' · ') || '–';
};

const row = (cells) => `| ${cells.join(' | ')} |`;
const align = (kinds) => `|${kinds.map((k) => (k === 'n' ? '---:' : '---')).join('|')}|`;

/**
 * One client's table. results: [{ scenario, runs: { warren: [run], lavinmq: [run], … } }] where a
 * run is { values, clientCpu, broker: { cpu, maxRss } } or { error }. oneClient names the single
 * client process of every run (goperf): its CPU goes in one column, a figure per broker.
 */
function renderSection({ heading, client, results, oneClient, notes }) {
  const present = KINDS.filter((k) => results.some((r) => r.runs[k]?.length));
  const brokers = present.filter((k) => k !== 'null');
  const others = OTHERS.filter((k) => present.includes(k));
  const hasNull = present.includes('null');
  const lines = [`## ${heading}`, ''];
  const cpuHead = oneClient ? [`${oneClient} CPU % (${brokers.map((k) => BROKER_LABEL[k]).join(' · ')})`] : brokers.map((k) => `client CPU % (${BROKER_LABEL[k]} run)`);
  const head = ['scenario', 'metric', ...brokers.map((k) => BROKER_LABEL[k]), ...others.map((k) => `Warren/${BROKER_LABEL[k]}`), ...(hasNull ? ['null broker'] : []), ...cpuHead];
  lines.push(row(head), align(head.map((_, i) => (i < 2 || i >= head.length - cpuHead.length ? 't' : 'n'))));
  for (const { scenario, runs } of results) {
    scenario.metrics.forEach((m, i) => {
      const value = (k) => med(runs[k], (x) => x.values[m.key]);
      const w = value('warren');
      const ratio = (k) => {
        const v = value(k);
        return w !== undefined && v ? `${fmt(w / v, 2)}×` : '–';
      };
      const cpu = oneClient ? [i === 0 ? brokers.map((k) => fmt(med(runs[k], (x) => x.clientCpu?.[oneClient]), 0)).join(' · ') : ''] : brokers.map((k) => (i === 0 ? cpuCell(runs[k]) : ''));
      const cells = [i === 0 ? scenario.title : '', `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`, ...brokers.map((k) => fmt(value(k))), ...others.map(ratio)];
      if (hasNull) cells.push(m.nullBroker && ok(runs.null).length ? fmt(value('null')) : '');
      lines.push(row([...cells, ...cpu]));
    });
    const errs = KINDS.flatMap((k) => (runs[k] ?? []).filter((x) => x.error).map((x) => `${BROKER_LABEL[k]}: ${x.error.split('\n')[0]}`));
    for (const e of errs) lines.push(row([scenario.title, '**error**', e.replace(/\|/g, '/')]));
  }
  const skipped = results.filter((r) => r.scenario.skipBrokers?.includes('lavinmq')).map((r) => r.scenario.name);
  const skipNote = present.includes('lavinmq') && skipped.length ? [`Not run against LavinMQ (1.0.1 has no quorum queues, streams or clustering): ${skipped.join(', ')}.`] : [];
  lines.push('', ...notes, ...skipNote, '');
  lines.push(`### Broker process during the ${client} runs`, '');
  const bh = ['scenario', ...brokers.flatMap((k) => [`${BROKER_LABEL[k]} CPU %`, `${BROKER_LABEL[k]} peak RSS MiB`])];
  lines.push(row(bh), align(bh.map((_, i) => (i ? 'n' : 't'))));
  for (const { scenario, runs } of results) {
    const cells = brokers.flatMap((k) => [fmt(med(runs[k], (x) => x.broker?.cpu), 0), fmt(med(runs[k], (x) => (x.broker?.maxRss ?? NaN) / 1048576), 0)]);
    lines.push(row([scenario.title, ...cells]));
  }
  lines.push('');
  return lines;
}

const GOPERF_NOTES = [
  'Medians over the runs. ↑ higher is better, ↓ lower is better; a ratio is Warren ÷ that broker.',
  'goperf (Go, its own AMQP codec, one process) costs about 30 ns a message, so these figures are the broker\'s; its CPU is shown as % of one core, one figure per broker.',
];
const AMQPLIB_NOTES = [
  'Medians over the runs. ↑ higher is better, ↓ lower is better; a ratio is Warren ÷ that broker.',
  "Client CPU is each amqplib client process's CPU time over the measured window as % of one core; near 100 means that client process, not the broker, may be the ceiling.",
];
const PROCESS_NOTE =
  'CPU % is of one core over the measured window (RabbitMQ uses several scheduler threads, so it can exceed 100). Peak RSS: sampled every 200 ms over the window (amqplib runs; idle-conns: RSS after opening; backlog: the drain, CPU over the drain) or every 250 ms over the whole run, warm-up included (goperf runs). LavinMQ keeps messages in memory-mapped segment files, so its RSS includes the pages of those files it has touched.';

/** sections: [{ client: 'goperf' | 'amqplib', results }] in the order to print. */
export function renderReport({ sections, meta }) {
  const kinds = KINDS.filter((k) => k !== 'null' && sections.some((s) => s.results.some((r) => r.runs[k]?.length)));
  const lines = [`# ${kinds.map((k) => BROKER_LABEL[k]).join(' vs ')} benchmark`, ''];
  for (const [k, v] of Object.entries(meta)) lines.push(`- **${k}**: ${v}`);
  lines.push('');
  for (const { client, results } of sections) {
    if (!results.length) continue;
    if (client === 'goperf') lines.push(...renderSection({ heading: 'goperf client', client, results, oneClient: 'goperf', notes: GOPERF_NOTES }));
    else lines.push(...renderSection({ heading: 'amqplib clients', client, results, notes: AMQPLIB_NOTES }));
  }
  lines.push(PROCESS_NOTE);
  return lines.join('\n') + '\n';
}
