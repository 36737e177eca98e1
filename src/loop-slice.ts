// Ask Linux for a short scheduler slice for the event loop's thread, so that when a message wakes
// it, it takes its core at once from whatever runs there.
//
// Why: under EEVDF (Linux 6.6 and later) a thread that has a core keeps it for its slice (the
// kernel's default, 1.4 ms on a 2-core machine) before a woken one of equal weight may preempt
// it. The event loop sleeps in epoll between messages; a V8 compile job (0.5-4.7 ms on the helper
// thread), the kernel's kdamond (~1 ms twice a second on the VMs here) or the client itself on the
// core it is woken on made it wait up to 2.9 ms, runnable, which is goperf's 5k msgs/s p99.9
// (README, "The 5k p99.9 on EEVDF"). Since Linux 6.12 a thread may ask for a shorter slice
// (sched_setattr's sched_runtime for SCHED_OTHER, 0.1-100 ms), and a thread with a shorter slice
// may preempt one with a longer slice when it wakes. Its share of the CPU is unchanged (that is its
// nice value's weight): it runs sooner, in shorter turns. No privilege is needed.
//
// How: Node has no binding for sched_setattr, so a one-line perl script (perl-base is Essential in
// Debian and Ubuntu, and in the Docker image) makes the two system calls for the main thread's id,
// which is the process id. It reads the thread's attributes first and changes only the slice: the
// policy (SCHED_OTHER or SCHED_BATCH; a real-time one is left alone) and the nice value stay. It
// reads them back after, and a kernel older than 6.12 shows no slice: that is reported as such.
import { execFile } from 'node:child_process';
import process from 'node:process';

/** sched_setattr and sched_getattr by architecture (x86-64's own table; arm64's is the generic one). */
const SYSCALLS: Partial<Record<string, [set: number, get: number]>> = {
  x64: [314, 315],
  arm64: [274, 275],
};

// struct sched_attr (SCHED_ATTR_SIZE_VER1, 56 bytes): size, policy, flags, nice, priority, runtime,
// deadline, period, util_min, util_max. Of the flags only reset-on-fork is kept (the utilization
// clamps' flags would set them again). Exit 3: a policy other than SCHED_OTHER (0) or SCHED_BATCH (3).
const SCRIPT = `
my ($tid, $ns, $set, $get) = @ARGV;
my $f = "LLQlLQQQLL";
my $a = "\\0" x 56;
syscall($get, $tid + 0, $a, 56, 0) == 0 or die "sched_getattr: $!\\n";
my @v = unpack($f, $a);
exit 3 if $v[1] != 0 && $v[1] != 3;
$v[0] = 56; $v[2] &= 1; $v[5] = $ns;
syscall($set, $tid + 0, pack($f, @v), 0) == 0 or die "sched_setattr: $!\\n";
syscall($get, $tid + 0, $a, 56, 0) == 0 or die "sched_getattr: $!\\n";
print((unpack($f, $a))[5], "\\n");
`;

export type LoopSlice =
  /** The slice the kernel now has for the thread, in µs. */
  | { sliceUs: number }
  /** Why the thread keeps the kernel's default slice. */
  | { skipped: string };

/**
 * Asks for a slice of `us` µs (100-100,000) for the process's main thread. Resolves, never
 * rejects: with the slice the kernel reports, or why it was not set. Call it from a process's
 * entry: an application embedding Warren keeps its own thread's slice.
 */
export function setLoopSlice(us: number): Promise<LoopSlice> {
  if (process.platform !== 'linux') return Promise.resolve({ skipped: `not Linux (${process.platform})` });
  const calls = SYSCALLS[process.arch];
  if (!calls) return Promise.resolve({ skipped: `no system call numbers for ${process.arch}` });
  const args = ['-e', SCRIPT, String(process.pid), String(us * 1000), String(calls[0]), String(calls[1])];
  return new Promise((resolve) => {
    execFile('perl', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) {
        // A spawn error has an errno name for its code, an exit a number.
        const code = (err as { code?: string | number }).code;
        if (code === 'ENOENT') resolve({ skipped: 'perl is not installed (it makes the system call)' });
        else if (code === 3) resolve({ skipped: 'the event loop runs under a real-time or deadline policy' });
        else resolve({ skipped: stderr.trim() || err.message });
        return;
      }
      const ns = Number(stdout.trim());
      if (ns === 0) resolve({ skipped: 'the kernel keeps no slice per thread (Linux 6.12 or later does)' });
      else resolve({ sliceUs: ns / 1000 });
    });
  });
}
