// Turns the collected runs into the markdown report (medians, ratio ours/RabbitMQ).
import { fmt, median } from './stats.mjs';

const KINDS = ['warren', 'rabbitmq', 'null'];

/** Median CPU% per client process name over runs: "pub 97 · con 55". */
const cpuCell = (runs) => {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.clientCpu ?? {})))];
  return names.map((n) => `${n} ${fmt(median(runs.map((r) => r.clientCpu?.[n])), 0)}`).join(' · ') || '–';
};

/**
 * results: [{ scenario, runs: { warren: [run], rabbitmq: [run], null: [run] } }] where a run is
 * { values, clientCpu, broker: { cpu, maxRss } } or { error }.
 */
export function renderReport({ results, meta }) {
  const hasRabbit = results.some((r) => r.runs.rabbitmq?.length);
  const hasNull = results.some((r) => r.runs.null?.length);
  const ok = (runs) => (runs ?? []).filter((r) => !r.error);
  const lines = [];
  lines.push('# Warren vs RabbitMQ benchmark', '');
  for (const [k, v] of Object.entries(meta)) lines.push(`- **${k}**: ${v}`);
  lines.push('');
  const head = ['scenario', 'metric', 'Warren', ...(hasRabbit ? ['RabbitMQ', 'ours/RabbitMQ'] : []), ...(hasNull ? ['null broker'] : []), 'client CPU % (Warren run)', ...(hasRabbit ? ['client CPU % (RabbitMQ run)'] : [])];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 || i >= head.length - (hasRabbit ? 2 : 1) ? '---' : '---:')).join('|')}|`);
  for (const { scenario, runs } of results) {
    const w = ok(runs.warren);
    const r = ok(runs.rabbitmq);
    const n = ok(runs.null);
    scenario.metrics.forEach((m, i) => {
      const wm = median(w.map((x) => x.values[m.key]));
      const rm = median(r.map((x) => x.values[m.key]));
      const ratio = wm !== undefined && rm ? wm / rm : undefined;
      const arrow = m.better === 'higher' ? '↑' : '↓';
      const row = [i === 0 ? `${scenario.title}` : '', `${m.label} ${arrow}`, fmt(wm)];
      if (hasRabbit) row.push(fmt(rm), ratio === undefined ? '–' : `${fmt(ratio, 2)}×`);
      if (hasNull) row.push(m.nullBroker && n.length ? fmt(median(n.map((x) => x.values[m.key]))) : '');
      row.push(i === 0 ? cpuCell(w) : '');
      if (hasRabbit) row.push(i === 0 ? cpuCell(r) : '');
      lines.push(`| ${row.join(' | ')} |`);
    });
    const errs = KINDS.flatMap((k) => (runs[k] ?? []).filter((x) => x.error).map((x) => `${k}: ${x.error.split('\n')[0]}`));
    for (const e of errs) lines.push(`| ${scenario.title} | **error** | ${e.replace(/\|/g, '/')} |`);
  }
  lines.push('');
  lines.push('Medians over the runs. ↑ higher is better, ↓ lower is better; the ratio is always Warren ÷ RabbitMQ.');
  lines.push('Client CPU is each client process\'s CPU time over the measured window as % of one core; near 100 means that client process, not the broker, may be the ceiling.');
  lines.push('');
  lines.push('## Broker process during the measured window', '');
  const rh = ['scenario', 'Warren CPU %', 'Warren peak RSS MiB', ...(hasRabbit ? ['RabbitMQ CPU %', 'RabbitMQ peak RSS MiB'] : [])];
  lines.push(`| ${rh.join(' | ')} |`, `|---|${rh.slice(1).map(() => '---:').join('|')}|`);
  for (const { scenario, runs } of results) {
    const cell = (rs) => [fmt(median(ok(rs).map((x) => x.broker?.cpu)), 0), fmt(median(ok(rs).map((x) => (x.broker?.maxRss ?? NaN) / 1048576)), 0)];
    lines.push(`| ${[scenario.title, ...cell(runs.warren), ...(hasRabbit ? cell(runs.rabbitmq) : [])].join(' | ')} |`);
  }
  lines.push('');
  lines.push('CPU % is of one core (RabbitMQ uses several scheduler threads, so it can exceed 100). Peak RSS is sampled every 200 ms over the window (idle-conns: RSS after opening; backlog: the drain, CPU over the drain).');
  return lines.join('\n') + '\n';
}
