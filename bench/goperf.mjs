// goperf (a Go AMQP load generator: /work/shared/goperf, README there) as the second client.
// Each run is one `goperf -json -scenario S` process against one broker; its JSON gives the rates,
// latencies, the broker's CPU over the window and peak RSS (by the pid we pass), and goperf's own
// CPU. The scenarios themselves are in goperf-scenarios.mjs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const GOPERF_DEFAULT = '/work/perf/goperf/goperf';

/** The goperf binary: the --goperf flag, else BENCH_GOPERF, else GOPERF_DEFAULT. */
export const goperfPath = (flag) => flag || process.env.BENCH_GOPERF || GOPERF_DEFAULT;
export const goperfAvailable = (path) => existsSync(path);

/** Running goperf processes, so a Ctrl-C or a failed run can end them. */
const running = new Set();

/** SIGINT to every goperf still running (it then stops its tasks and deletes its queues). */
export function killAllGoperf() {
  for (const p of running) {
    try {
      p.kill('SIGINT');
    } catch {}
  }
}

/**
 * Runs `goperf -json -url URL -pid PID -scenario S -seconds N -warmup W ...flags` and resolves with
 * its one result object; rejects on a non-zero exit, a result with an error, or a timeout.
 */
export function runGoperf(binary, { url, pid, scenario, seconds, warmup, flags = [] }) {
  const args = ['-json', '-url', url, '-scenario', scenario, '-seconds', String(seconds), '-warmup', String(warmup), ...flags];
  if (pid) args.push('-pid', String(pid));
  const timeoutMs = (warmup + seconds + 180) * 1000; // stopping, confirms and deleting a long queue included
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`goperf ${scenario} did not finish in ${timeoutMs / 1000} s:\n${err}`));
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      running.delete(proc);
      reject(e);
    });
    proc.once('close', (code, sig) => {
      clearTimeout(timer);
      running.delete(proc);
      let result;
      try {
        [result] = JSON.parse(out);
      } catch {
        reject(new Error(`goperf ${scenario} exited (${code ?? sig}) without JSON:\n${err}`));
        return;
      }
      if (result?.error) reject(new Error(`goperf ${scenario}: ${result.error}`));
      else if (code !== 0) reject(new Error(`goperf ${scenario} exited (${code ?? sig}):\n${err}`));
      else resolve(result);
    });
  });
}
