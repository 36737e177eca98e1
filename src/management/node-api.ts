// This node's /api/nodes extras beyond RabbitMQ's fields (its figures themselves are measured in
// nodes-view.ts), and, with ?memory=true (or /api/nodes/NAME/memory), a breakdown of the process's
// memory as Node reports it.
import process from 'node:process';
import { totalmem } from 'node:os';
import type { Broker } from '../server/broker.js';
import { usedMemory } from '../server/alarms.js';

type Json = Record<string, unknown>;

/**
 * What this node's /api/nodes item has beyond the figures nodes-view.ts measures for it (and
 * RabbitMQ's node has): the UI's and `warren ctl status`'s extras.
 */
export function localNodeExtras(broker: Broker): Json {
  return {
    // Warren's: the setting mem_limit comes from, as rabbitmqctl status shows it ({relative} or {absolute}).
    vm_memory_high_watermark: broker.alarms.memoryWatermark,
    mem_total: totalmem(),
    // Warren's: the runtime's version (RabbitMQ's overview has erlang_version).
    node_version: process.version,
    alarms: broker.alarms.reasons,
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
