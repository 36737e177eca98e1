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
// Not SCHED_IDLE, though it was tried (README, "The 5k p99.9 on EEVDF"): under EEVDF (Linux 6.6+)
// a nice-5 compile job keeps the core the event loop is woken on for its protected slice, and only
// a SCHED_IDLE thread yields at once; set through chrt, it took the 5k p99.9 from a median of 794
// to 590 µs with the production flags, but beside one CPU hog the single V8 helper starved and
// goperf transient fell from 1.43M to 130k msgs/s, and leaving SCHED_IDLE needs CAP_SYS_NICE.
// Since Linux 6.12 there is a better way for the same tail: the event loop asks for a shorter slice
// than the helpers' and so preempts them when it wakes, without starving them (loop-slice.ts).
import process from 'node:process';
import { readdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
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
export async function lowerHelperThreads(by: number): Promise<LoweredThreads | { skipped: string } | null> {
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
  return { nice, lowered, pool: split.pool, failed };
}
