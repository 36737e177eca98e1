// A process's resident memory, for the tests that bound a broker process's memory.
import { readFileSync } from 'node:fs';

/** VmRSS of pid in bytes (0 once the process is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples pid's VmRSS every everyMs until stop(): the highest seen so far is peak. */
export function sampleRss(pid: number, everyMs: number): { readonly peak: number; stop(): void } {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), everyMs);
  return {
    get peak() {
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}
