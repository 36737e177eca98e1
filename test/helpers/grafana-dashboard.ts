// RabbitMQ's Grafana dashboards (test/fixtures/grafana): every panel query, and the metric names
// they use, with Grafana's template variables filled in as Grafana would fill them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/grafana');

export const DASHBOARDS = ['RabbitMQ-Overview.json', 'RabbitMQ-Overview-3.10.8.json'] as const;

export interface PanelQuery {
  /** The panel's title, with the target's refId when a panel has several. */
  panel: string;
  expr: string;
}

interface Panel {
  title?: string;
  panels?: Panel[];
  targets?: { expr?: string; refId?: string }[];
}

interface Dashboard {
  panels: Panel[];
  time: { from: string; to: string };
}

export function readDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as Dashboard;
}

/** Every target's expr, rows' nested panels included. */
export function panelQueries(file: string): PanelQuery[] {
  const out: PanelQuery[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      if (p.panels) walk(p.panels);
      const targets = (p.targets ?? []).filter((t) => t.expr);
      for (const t of targets) out.push({ panel: `${p.title ?? '(untitled)'}${targets.length > 1 ? ` [${t.refId ?? '?'}]` : ''}`, expr: t.expr! });
    }
  };
  walk(readDashboard(file).panels);
  return out;
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
  const m = /^now-(\d+)([smhd])$/.exec(readDashboard(file).time.from);
  if (!m) throw new Error(`unexpected time range ${readDashboard(file).time.from}`);
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
