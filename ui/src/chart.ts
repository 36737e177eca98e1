// Live line charts (uPlot) over a bounded history of samples.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

/** Samples over time: t in seconds, one array per series. */

/** The chart ranges offered: seconds of history shown (and asked of the broker). */
export const RANGES: [number, string][] = [
  [60, 'last minute'],
  [600, 'last 10 minutes'],
  [3600, 'last hour'],
];
const RANGE_KEY = 'warren.range';
export const chartRange = (): number => {
  const v = Number(localStorage.getItem(RANGE_KEY));
  return RANGES.some(([s]) => s === v) ? v : 600;
};
/** The query asking the broker for its history over the range, about 180 points. */
export const historyQuery = (prefix: string[], range = chartRange()): string => {
  const incr = Math.max(5, Math.ceil(range / 180 / 5) * 5);
  return prefix.map((p) => `${p}_age=${range}&${p}_incr=${incr}`).join('&');
};

/** A select of RANGES; `changed` runs after the choice is stored. */
export function rangeSelect(changed: () => void): HTMLSelectElement {
  return h(
    'select',
    {
      class: 'range',
      'aria-label': 'Chart range',
      onchange: (e: Event) => {
        localStorage.setItem(RANGE_KEY, (e.target as HTMLSelectElement).value);
        changed();
      },
    },
    ...RANGES.map(([s, label]) => h('option', { value: s, selected: s === chartRange() }, label)),
  );
}

/** RabbitMQ's samples ([{sample, timestamp ms}], newest first) → per-second rates, oldest first. */
export function ratesOf(samples: { sample: number; timestamp: number }[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = samples.length - 1; i > 0; i--) {
    const a = samples[i]!;
    const b = samples[i - 1]!;
    const dt = (b.timestamp - a.timestamp) / 1000;
    if (dt > 0) out.push([b.timestamp / 1000, Math.max(0, (b.sample - a.sample) / dt)]);
  }
  return out;
}
export class History {
  readonly t: number[] = [];
  readonly values: number[][];

  /** Samples older than this many seconds are dropped (the chosen range). */
  maxAgeS = 600;

  constructor(
    series: number,
    private readonly max = 1000,
  ) {
    this.values = Array.from({ length: series }, () => []);
  }

  push(values: number[], at = Date.now() / 1000): void {
    this.t.push(at);
    values.forEach((v, i) => this.values[i]!.push(v));
    this.trim(at);
  }

  /** Replaces the samples with the broker's history: [t seconds, ...values], oldest first. */
  seed(points: number[][]): void {
    this.t.length = 0;
    for (const s of this.values) s.length = 0;
    for (const [t, ...vs] of points) {
      this.t.push(t!);
      vs.forEach((v, i) => this.values[i]!.push(v));
    }
    this.trim(Date.now() / 1000);
  }

  private trim(now: number): void {
    while (this.t.length > this.max || (this.t.length > 0 && this.t[0]! < now - this.maxAgeS)) {
      this.t.shift();
      for (const s of this.values) s.shift();
    }
  }

  data(): uPlot.AlignedData {
    return [this.t, ...this.values];
  }
}

/** The shortest time window a chart shows, seconds. */
const MIN_WINDOW_S = 60;

/**
 * The x range: from the first sample to the last, at least MIN_WINDOW_S wide. Taken from the samples
 * themselves, because for a single sample (first load) uPlot 1.6 hands the range function
 * [t, t + 86400 / ms] — 1,000 days with timestamps in seconds — so the axis ran from 2027 to 2029.
 */
export function timeWindow(t: ArrayLike<number>, now = Date.now() / 1000): uPlot.Range.MinMax {
  if (t.length === 0) return [now - MIN_WINDOW_S, now];
  const first = t[0]!;
  return [first, Math.max(t[t.length - 1]!, first + MIN_WINDOW_S)];
}

const INTEGER_STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((p) => m * p)).sort((a, b) => a - b);

export interface SeriesSpec {
  label: string;
  color: string;
}

export class LiveChart {
  readonly el: HTMLElement;
  private readonly plot: uPlot;
  private readonly resize: ResizeObserver;
  private hovering = false;

  constructor(title: string, series: SeriesSpec[], history: History, format: (v: number) => string, opts: { height?: number; integer?: boolean; axisSize?: number } = {}) {
    const height = opts.height ?? 200;
    const box = h('div', { class: 'chart-box' });
    this.el = h('section', { class: 'chart', 'data-chart': title }, h('h3', null, title), box);
    this.plot = new uPlot(
      {
        width: 600,
        height,
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true, range: (u) => timeWindow(u.data[0]) }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        hooks: {
          // The x window drawn, on the element: what the axis shows, readable without uPlot (tests).
          setScale: [
            (u, key) => {
              if (key !== 'x') return;
              this.el.dataset.xMin = String(u.scales.x!.min);
              this.el.dataset.xMax = String(u.scales.x!.max);
            },
          ],
        },
        axes: [
          { stroke: '#667', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde' } },
          { stroke: '#667', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#dde' }, size: opts.axisSize ?? 56, incrs: opts.integer ? INTEGER_STEPS : undefined, values: (_u, vals) => vals.map((v) => format(v)) },
        ],
        series: [
          { value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString()) },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            fill: `${s.color}18`,
            width: 2,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : format(v)),
          })),
        ],
      },
      history.data(),
      box,
    );
    this.resize = new ResizeObserver(() => {
      const w = box.clientWidth;
      if (w > 0 && w !== this.plot.width) this.plot.setSize({ width: w, height });
    });
    this.resize.observe(box);
    // The legend shows the hovered sample, and the latest one otherwise.
    box.addEventListener('mouseenter', () => (this.hovering = true));
    box.addEventListener('mouseleave', () => {
      this.hovering = false;
      setTimeout(() => this.showLatest());
    });
    this.showLatest();
  }

  update(history: History): void {
    this.el.dataset.points = String(history.t.length);
    this.plot.setData(history.data());
    this.showLatest();
  }

  private showLatest(): void {
    const n = this.plot.data[0].length;
    if (!this.hovering && n > 0) this.plot.setLegend({ idx: n - 1 });
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot.destroy();
  }
}
