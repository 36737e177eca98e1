// The local node's resources for /api/nodes and the UI's node page, in RabbitMQ's field names:
// memory used (the alarm's measure: JS heap + buffers) against the watermark, free disk against the
// floor, file descriptors, sockets, processors, and the raised alarms; with ?memory=true (or
// /api/nodes/NAME/memory) a breakdown of the process's memory as Node reports it.
import { readdirSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import type { Broker } from '../server/broker.js';
import { usedMemory } from '../server/alarms.js';

type Json = Record<string, unknown>;

/** Open file descriptors and the soft limit, from /proc (null elsewhere). */
function fileDescriptors(): { used: number | null; total: number | null } {
  try {
    const used = readdirSync('/proc/self/fd').length;
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return { used, total: m && m[1] !== 'unlimited' ? Number(m[1]) : null };
  } catch {
    return { used: null, total: null };
  }
}

async function diskFree(dir: string | undefined): Promise<number | null> {
  if (!dir) return null;
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export async function localNodeResources(broker: Broker): Promise<Json> {
  const fds = fileDescriptors();
  const reasons = broker.alarms.reasons;
  return {
    mem_used: usedMemory(),
    mem_limit: broker.alarms.memoryLimit,
    // Warren's: the setting mem_limit comes from, as rabbitmqctl status shows it ({relative} or {absolute}).
    vm_memory_high_watermark: broker.alarms.memoryWatermark,
    mem_alarm: reasons.includes('memory'),
    mem_total: totalmem(),
    disk_free: await diskFree(broker.options.dataDir),
    disk_free_limit: broker.alarms.diskFreeLimit,
    disk_free_alarm: reasons.includes('disk'),
    fd_used: fds.used,
    fd_total: fds.total,
    sockets_used: broker.socketCount,
    processors: availableParallelism(),
    os_pid: String(process.pid),
    // Warren's: the runtime's version (RabbitMQ's overview has erlang_version).
    node_version: process.version,
    run_queue: 0,
    alarms: reasons,
  };
}

/** Where the process's memory goes, bytes (Node's process.memoryUsage()). */
export function memoryBreakdown(): Json {
  const m = process.memoryUsage();
  return {
    heap_used: m.heapUsed,
    heap_unused: Math.max(0, m.heapTotal - m.heapUsed),
    binary: m.arrayBuffers,
    external_other: Math.max(0, m.external - m.arrayBuffers),
    other_rss: Math.max(0, m.rss - m.heapTotal - m.external),
    total: { rss: m.rss, allocated: m.heapTotal + m.external, used: usedMemory() },
  };
}
