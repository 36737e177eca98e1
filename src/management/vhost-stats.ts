// A vhost's totals as RabbitMQ's management API shows them on /api/vhosts (its vhost_stats):
// message_stats over its channels, recv_oct/send_oct over its connections, each with a rate, and
// the rates of its message counts. Live channels and connections are summed with what the closed
// ones left on the vhost (VHost.pastStats, pastRecvOct, pastSendOct), so totals never fall.
import type { Broker } from '../server/broker.js';
import { addStats, COUNTERS, MessageStats } from '../server/stats.js';
import type { VHost } from '../server/vhost.js';

export interface VHostTotals {
  stats: MessageStats;
  recvOct: number;
  sendOct: number;
}

/** Every vhost's totals, in one pass over the connections. */
export function vhostTotals(broker: Broker): Map<VHost, VHostTotals> {
  const out = new Map<VHost, VHostTotals>();
  for (const v of broker.vhosts.values()) {
    const stats = new MessageStats();
    addStats(stats, v.pastStats);
    out.set(v, { stats, recvOct: v.pastRecvOct, sendOct: v.pastSendOct });
  }
  for (const c of broker.connections) {
    const t = c.vhost ? out.get(c.vhost) : undefined;
    if (!t) continue;
    t.recvOct += c.socket.bytesRead;
    t.sendOct += c.socket.bytesWritten;
    for (const ch of c.channels.values()) addStats(t.stats, ch.messageStats);
  }
  return out;
}

/** As RabbitMQ 3.10.8's vhost totals: the sum of its queues' messages, owed dead letters included. */
export function vhostMessageCounts(v: VHost): { messages: number; messages_ready: number; messages_unacknowledged: number } {
  let ready = 0;
  let unacked = 0;
  let owed = 0;
  for (const q of v.queues.values()) {
    ready += q.messageCount;
    unacked += q.unackedTotal;
    owed += q.deadLetterCount;
  }
  return { messages: ready + unacked + owed, messages_ready: ready, messages_unacknowledged: unacked };
}

/** What the rate sampler keeps per vhost: its counters, octets and message counts. */
export function vhostGauges(v: VHost, t: VHostTotals): { [name: string]: number } {
  return {
    ...Object.fromEntries(COUNTERS.map((k) => [k, t.stats[k]])),
    recv_oct: t.recvOct,
    send_oct: t.sendOct,
    ...vhostMessageCounts(v),
  };
}
