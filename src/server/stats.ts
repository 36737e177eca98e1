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
  /** The part of deliver with no ack required (RabbitMQ's deliver_no_ack). */
  deliverNoAck = 0;
  /** The part of get with no ack required (get_no_ack). */
  getNoAck = 0;
  /** basic.get answered get-empty. */
  getEmpty = 0;
  /** Published without mandatory and routed nowhere (drop_unroutable). */
  dropUnroutable = 0;
}

/**
 * Counters of one channel that also count into a parent's (the broker's): `stats.publish++` adds to
 * both. Class accessors, which V8 inlines on the hot path. own holds the channel's figures.
 */
class LinkedStats implements MessageStats {
  constructor(
    private readonly own: MessageStats,
    private readonly parent: MessageStats,
  ) {}
  get publish(): number {
    return this.own.publish;
  }
  set publish(v: number) {
    this.parent.publish += v - this.own.publish;
    this.own.publish = v;
  }
  get deliver(): number {
    return this.own.deliver;
  }
  set deliver(v: number) {
    this.parent.deliver += v - this.own.deliver;
    this.own.deliver = v;
  }
  get get(): number {
    return this.own.get;
  }
  set get(v: number) {
    this.parent.get += v - this.own.get;
    this.own.get = v;
  }
  get ack(): number {
    return this.own.ack;
  }
  set ack(v: number) {
    this.parent.ack += v - this.own.ack;
    this.own.ack = v;
  }
  get redeliver(): number {
    return this.own.redeliver;
  }
  set redeliver(v: number) {
    this.parent.redeliver += v - this.own.redeliver;
    this.own.redeliver = v;
  }
  get confirm(): number {
    return this.own.confirm;
  }
  set confirm(v: number) {
    this.parent.confirm += v - this.own.confirm;
    this.own.confirm = v;
  }
  get returnUnroutable(): number {
    return this.own.returnUnroutable;
  }
  set returnUnroutable(v: number) {
    this.parent.returnUnroutable += v - this.own.returnUnroutable;
    this.own.returnUnroutable = v;
  }
  get deliverNoAck(): number {
    return this.own.deliverNoAck;
  }
  set deliverNoAck(v: number) {
    this.parent.deliverNoAck += v - this.own.deliverNoAck;
    this.own.deliverNoAck = v;
  }
  get getNoAck(): number {
    return this.own.getNoAck;
  }
  set getNoAck(v: number) {
    this.parent.getNoAck += v - this.own.getNoAck;
    this.own.getNoAck = v;
  }
  get getEmpty(): number {
    return this.own.getEmpty;
  }
  set getEmpty(v: number) {
    this.parent.getEmpty += v - this.own.getEmpty;
    this.own.getEmpty = v;
  }
  get dropUnroutable(): number {
    return this.own.dropUnroutable;
  }
  set dropUnroutable(v: number) {
    this.parent.dropUnroutable += v - this.own.dropUnroutable;
    this.own.dropUnroutable = v;
  }
}

/** Every counter of MessageStats (what the rate sampler samples and addStats adds). */
export const COUNTERS: (keyof MessageStats)[] = ['publish', 'deliver', 'get', 'ack', 'redeliver', 'confirm', 'returnUnroutable', 'deliverNoAck', 'getNoAck', 'getEmpty', 'dropUnroutable'];

/** Adds every counter of from into into (a closed channel's figures into its vhost's). */
export function addStats(into: MessageStats, from: MessageStats): void {
  for (const k of COUNTERS) into[k] += from[k];
}

export function linkedStats(parent: MessageStats): { own: MessageStats; counting: MessageStats } {
  const own = new MessageStats();
  return { own, counting: new LinkedStats(own, parent) };
}
