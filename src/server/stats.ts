// Message counters, broker-wide and per queue, for the management API and Prometheus metrics.
// Plain increments on the hot path; rates are computed by whoever samples them.

export class MessageStats {
  publish = 0;
  deliver = 0;
  get = 0;
  ack = 0;
  redeliver = 0;
  confirm = 0;
  returnUnroutable = 0;
}

/**
 * Counters of one channel that also count into a parent's (the broker's): each field is an
 * accessor, so `stats.publish++` adds to both. own holds the channel's figures.
 */
export function linkedStats(parent: MessageStats): { own: MessageStats; counting: MessageStats } {
  const own = new MessageStats();
  const counting = new MessageStats();
  for (const k of Object.keys(own) as (keyof MessageStats)[]) {
    Object.defineProperty(counting, k, {
      enumerable: true,
      get: () => own[k],
      set: (v: number) => {
        parent[k] += v - own[k];
        own[k] = v;
      },
    });
  }
  return { own, counting };
}
