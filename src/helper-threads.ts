// Lower the scheduling priority of Node's platform threads — V8's workers above all — so that they
// seldom take a core from the event loop's thread.
//
// Why: V8 compiles hot functions with TurboFan on its worker threads. When the event loop's thread
// queues a compile job, Linux wakes the worker on the same core and lets it preempt the waker; the
// event loop then sits runnable behind a compile of 1-5 ms while the other core idles (`perf sched`
// on goperf's 5k msgs/s latency run: the main thread switched out in `QueueForOptimization`, back
// 1.8 ms later; V8 still compiles seconds into a run at that rate). Each such stall delays every
// message that arrives meanwhile, which is the latency's p99. A waking worker at a higher nice value
// is less likely to preempt the event loop (its virtual deadline lies further out).
//
// How far: not to 19. The same workers run the parallel parts of V8's garbage collection, and the
// main thread waits for a worker that holds a piece of a scavenge or has to stop for a safepoint. With
// other processes taking the cores a nice-19 worker gets ~1.5% of one, and the event loop stalls
// behind it: goperf transient beside one `yes` hog did 66k-347k msgs/s at 2.6-17 µs of main-thread
// CPU a message at nice 19, against 435k-878k at nice 0 and 401k-845k at nice 5 (beside two hogs,
// nice 10 cost 1.9 µs where 0 and 5 cost 1.2-1.3). Nice 5 (a third of nice 0's weight) still took
// the 5k p99 from 1,075 to 844 µs and from 1,265 to 1,019 µs (medians of 7 rounds each; 19: 625).
//
// Which threads: Linux has no per-thread names here (all are `node`), so they are told apart by the
// order they were made in. Node starts its platform threads (the delayed-task scheduler, the V8
// workers, the inspector's signal thread) before the script runs, and libuv's pool, all of its
// UV_THREADPOOL_SIZE threads at once, on the first file operation, which the ES module loader has
// made before the broker's entry runs (and which lowerHelperThreads makes sure of). Thread ids are
// handed out in increasing order, other processes' ids interleaved, so at that point the newest
// UV_THREADPOOL_SIZE ids are the pool and every other id but the process's own is a platform thread.
// The pool keeps its priority: it does the store's writes and syncs, which confirms wait for.
// Threads made later (LevelDB's compaction thread, made by a pool thread) inherit their maker's.
//
// Why nice is not enough, and what idle (--helper-threads-idle) costs: under Linux's EEVDF
// scheduler (6.6 and later) a thread that gets a core keeps it for a protected slice (about a base
// slice, 0.75-1.5 ms) whatever its nice value; only a SCHED_IDLE thread is preempted at once by a
// waking normal one, and a core running only SCHED_IDLE threads counts as idle when a woken thread
// is placed. `perf sched timehist` of goperf's 5k msgs/s latency run (thirty-third session): the
// slowest 0.2% of messages came with a nice-5 compile job of 0.5-2.5 ms on the core the event loop
// was woken on (the main thread runnable behind it for up to 2.2 ms while the other core idled),
// with the VM's kdamond thread (~1 ms, twice a second) or with a scavenge. SCHED_IDLE helpers took
// the run's p99.9 from a median of ~700-1,100 µs to ~380-430 (LavinMQ's ~380). It stays an opt-in:
// beside a CPU hog a SCHED_IDLE compiler gets ~0.3% of a core, V8 runs unoptimized code for
// seconds (goperf transient beside one `yes`: 235k-676k msgs/s against ~1.0M at nice 5), and
// leaving SCHED_IDLE again needs CAP_SYS_NICE, which a container seldom has.
import process from 'node:process';
import { readFileSync, readdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';

/** libuv's pool size as libuv reads it (`atoi` of UV_THREADPOOL_SIZE; 0 counts as 1; at most 1024). */
export function libuvPoolSize(env: string | undefined): number {
  if (env === undefined) return 4;
  const n = Number.parseInt(env, 10);
  // atoi gives 0 for what is not a number; libuv stores it unsigned, so a negative is "too many".
  if (Number.isNaN(n) || n === 0) return 1;
  return n < 0 || n > 1024 ? 1024 : n;
}

export type ThreadSplit =
  | { helpers: number[]; pool: number[] }
  | { skipped: string };

/**
 * Splits the process's thread ids into Node's platform threads (`helpers`) and libuv's pool, from
 * the order they were made in. `skipped` when the ids cannot be read that way: an id below the
 * process's own (the id counter wrapped while Node started), or fewer threads than a pool and one
 * platform thread.
 */
export function splitThreads(tids: readonly number[], pid: number, poolSize: number): ThreadSplit {
  const others = tids.filter((t) => t !== pid).sort((a, b) => a - b);
  if (others.some((t) => t < pid)) return { skipped: 'thread ids wrapped around' };
  if (others.length < poolSize + 1) return { skipped: `${others.length} threads besides the main one, fewer than libuv's ${poolSize} and a platform thread` };
  return { helpers: others.slice(0, others.length - poolSize), pool: others.slice(others.length - poolSize) };
}

export interface LoweredThreads {
  /** The nice value the platform threads now have. */
  nice: number;
  /** Their scheduling policy: SCHED_OTHER ('other') or, with --helper-threads-idle, SCHED_IDLE. */
  policy: 'other' | 'idle';
  /** Platform threads now at `nice`. */
  lowered: number[];
  /** libuv's pool, left as it was. */
  pool: number[];
  /** Threads whose priority could not be changed, with why. */
  failed: Array<{ tid: number; error: string }>;
}

/**
 * Sets Node's platform threads of this process `by` nice levels below the event loop's thread (at
 * most to 19; Linux only, null elsewhere): relative, so that a broker started under `nice` keeps
 * its helpers below its event loop, never above. Call it from a process's entry, before anything
 * starts threads of its own: an application embedding Warren keeps its threads as they are.
 */
export async function lowerHelperThreads(by: number, idle = false): Promise<LoweredThreads | { skipped: string } | null> {
  if (process.platform !== 'linux') return null;
  const nice = Math.min(19, getPriority(process.pid) + by);
  // libuv starts its pool on the first request it gets; this is one (if the loader's was not).
  await access('/proc/self/task');
  const tids = readdirSync('/proc/self/task').map(Number);
  const split = splitThreads(tids, process.pid, libuvPoolSize(process.env.UV_THREADPOOL_SIZE));
  if ('skipped' in split) return split;
  const lowered: number[] = [];
  const failed: Array<{ tid: number; error: string }> = [];
  for (const tid of split.helpers) {
    try {
      // setpriority(PRIO_PROCESS, tid): on Linux a thread id names that one thread.
      setPriority(tid, nice);
      lowered.push(tid);
    } catch (err) {
      failed.push({ tid, error: err instanceof Error ? err.message : String(err) });
    }
  }
  if (!idle) return { nice, policy: 'other', lowered, pool: split.pool, failed };
  const idled: number[] = [];
  await Promise.all(
    lowered.map(async (tid) => {
      const error = await toIdlePolicy(tid);
      if (error === null) idled.push(tid);
      else failed.push({ tid, error });
    }),
  );
  return { nice, policy: 'idle', lowered: idled.sort((a, b) => a - b), pool: split.pool, failed };
}

/** SCHED_IDLE, as sched(7) numbers it and /proc/<pid>/task/<tid>/stat's policy field shows it. */
export const SCHED_IDLE = 5;

/** The scheduling policy of one of this process's threads (proc(5), field 41). */
export function policyOf(tid: number, pid = process.pid): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields from the state (3) on, after the command in parentheses (which may hold spaces).
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/**
 * Puts one thread in SCHED_IDLE through util-linux's chrt (Node has no call for a scheduling
 * policy), then reads the policy back. Null when done, else why not.
 */
function toIdlePolicy(tid: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('chrt', ['--idle', '--pid', '0', String(tid)], (err, _out, stderr) => {
      if (err) return resolve(`chrt: ${stderr.trim() || err.message}`);
      try {
        const policy = policyOf(tid);
        resolve(policy === SCHED_IDLE ? null : `chrt left the policy at ${policy}`);
      } catch (e) {
        resolve(e instanceof Error ? e.message : String(e));
      }
    });
  });
}
