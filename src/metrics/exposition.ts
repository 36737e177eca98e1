// Prometheus' text exposition format 0.0.4: one family is a TYPE line, a HELP line (in that
// order, as rabbitmq_prometheus writes them) and its samples.

export const CONTENT_TYPE = 'text/plain; version=0.0.4';

export type MetricType = 'counter' | 'gauge' | 'untyped' | 'histogram';

/** Label names and values, in the order they are written. */
export type Labels = readonly (readonly [string, string])[];

export interface Sample {
  /** Appended to the family's name: '_bucket', '_sum', '_count' for a histogram; '' otherwise. */
  suffix?: string;
  labels: Labels;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export function render(families: Iterable<Family>): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# TYPE ${f.name} ${f.type}`, `# HELP ${f.name} ${escapeHelp(f.help)}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  out.push('');
  return out.join('\n');
}
