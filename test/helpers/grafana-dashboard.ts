// RabbitMQ's Grafana dashboards' panel queries (test/fixtures/grafana): every query, and the metric names
// they use, with Grafana's template variables filled in as Grafana would fill them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/grafana');

export const DASHBOARDS = ['RabbitMQ-Overview', 'RabbitMQ-Overview-3.10.8'] as const;

export interface PanelQuery {
  /** The panel's title, with the target's refId when a panel has several. */
  panel: string;
  expr: string;
}

/** What the test needs of a dashboard: its panels' queries and its time range (see the fixtures' README). */
interface DashboardQueries {
  timeFrom: string;
  queries: PanelQuery[];
}

function readQueries(name: string): DashboardQueries {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.queries.json`), 'utf8')) as DashboardQueries;
}

/** Every panel target's expr, rows' nested panels included. */
export function panelQueries(name: string): PanelQuery[] {
  return readQueries(name).queries;
}

/** The rabbitmq_* metric names the queries use (a histogram's by its family name). */
export function metricNames(files: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const f of files) {
    for (const q of panelQueries(f)) {
      for (const m of q.expr.matchAll(/\brabbitmq_[a-z_]+\b/g)) {
        // Label names in the same style (rabbitmq_cluster, rabbitmq_node, …) are not metrics.
        if (/^rabbitmq_(cluster|node|endpoint|version)$/.test(m[0])) continue;
        names.add(m[0].replace(/_(bucket|sum|count)$/, ''));
      }
    }
  }
  return names;
}

/** The dashboard's time range in seconds ("now-1h" → 3600): what Grafana puts for $__range. */
export function rangeSeconds(file: string): number {
  const from = readQueries(file).timeFrom;
  const m = /^now-(\d+)([smhd])$/.exec(from);
  if (!m) throw new Error(`unexpected time range ${from}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Replaces $name and ${name} with values[name]; throws on a variable it has no value for. */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_all, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for $${name} in ${expr}`);
    return v;
  });
}
