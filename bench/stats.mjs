// Small numeric helpers shared by the harness and the client workers.
import { readFileSync } from 'node:fs';

export const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** Nearest-rank percentile of an already sorted array (p in 0..100). */
export const percentileSorted = (sorted, p) => {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
};

/** A growable Float64Array of samples (latencies in µs). */
export class Samples {
  constructor(capacity = 1 << 16) {
    this.buf = new Float64Array(capacity);
    this.n = 0;
  }
  push(x) {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = x;
  }
  reset() {
    this.n = 0;
  }
  summary() {
    const s = this.buf.slice(0, this.n).sort();
    return {
      count: this.n,
      p50: percentileSorted(s, 50),
      p99: percentileSorted(s, 99),
      p999: percentileSorted(s, 99.9),
      max: s.length ? s[s.length - 1] : undefined,
    };
  }
}

/** CPU time of this process since `prev` (a process.cpuUsage() value), as % of one core over `wallMs`. */
export const cpuPercent = (prev, wallMs) => {
  const d = process.cpuUsage(prev);
  return wallMs > 0 ? ((d.user + d.system) / 1000 / wallMs) * 100 : 0;
};

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat times are in these ticks.

/** utime+stime of another process in ms, or undefined when /proc is not readable. */
export const procCpuMs = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // fields 14, 15 of stat(5)
  } catch {
    return undefined;
  }
};

/** VmRSS and VmHWM (peak) of a process in bytes. */
export const procMem = (pid) => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: undefined, hwm: undefined };
  }
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Human formatting for table cells. */
export const fmt = (x, digits) => {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (typeof x === 'string') return x;
  const a = Math.abs(x);
  const d = digits ?? (a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
};
