// Live line charts (uPlot) over a bounded history of samples.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

/** Samples over time: t in seconds, one array per series. */
export class History {
  readonly t: number[] = [];
  readonly values: number[][];

  constructor(
    series: number,
    private readonly max = 180,
  ) {
    this.values = Array.from({ length: series }, () => []);
  }

  push(values: number[]): void {
    this.t.push(Date.now() / 1000);
    values.forEach((v, i) => this.values[i]!.push(v));
    if (this.t.length > this.max) {
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
