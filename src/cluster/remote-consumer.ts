// On a queue's owner: a consumer whose client is connected to another node. Deliveries travel to
// that node (dlv); its acks, nacks and rejects come back (settle). At most `credit` deliveries are
// out at once: the consumer's prefetch, or a bounded window for one without (or with no-ack).
import { Consumer, type ConsumerHost } from '../server/consumer.js';
import type { Entry } from '../server/message.js';
import type { Queue } from '../server/queue.js';

export interface RemoteSender {
  deliver(rc: RemoteConsumer, did: number, entry: Entry): void;
  cancel(rc: RemoteConsumer): void;
}

class RemoteHost implements ConsumerHost {
  constructor(private readonly sender: RemoteSender) {}
  canDeliverTo(c: Consumer): boolean {
    const rc = c as RemoteConsumer;
    return rc.windowed ? rc.sent - rc.granted < rc.credit : rc.inflight.size + rc.heldBefore < rc.credit;
  }
  deliver(c: Consumer, entry: Entry): void {
    (c as RemoteConsumer).send(entry);
  }
  cancelByServer(c: Consumer): void {
    const rc = c as RemoteConsumer;
    rc.queue.unackedCount -= rc.inflight.size;
    rc.inflight.clear();
    this.sender.cancel(rc);
  }
}

export class RemoteConsumer extends Consumer {
  /** Delivered to the other node and not yet settled, by delivery id. */
  readonly inflight = new Map<number, Entry>();
  private nextDid = 1;
  private static getDids = 1;
  /** Cancelled (or subscribed again): no longer in the queue, only holding what it was sent. */
  detached = false;
  /** Deliveries sent, and those the other node has handed to its client (a windowed consumer's). */
  sent = 0;
  granted = 0;
  /**
   * A holder for this node's own channels (of a queue that left this node and came back, see
   * QueueTraffic.holdReleased): their unacked deliveries are counted by the channels already.
   */
  countedByChannels = false;
  /**
   * Deliveries its client held when it subscribed (from an earlier owner, or an earlier
   * subscription), counted against its prefetch until its node gives them back (credit) as they
   * are settled: a consumer holding five with prefetch 5 got five more after a queue moved.
   */
  heldBefore = 0;

  constructor(
    /** The consumer's id across the cluster (its node's name, a counter). */
    readonly cid: string,
    /** The node its client is connected to. */
    readonly node: string,
    queue: Queue,
    readonly credit: number,
    priority: number,
    private readonly sender: RemoteSender,
    exclusive = false,
    /**
     * Its client has no prefetch (or no-ack): credit bounds the deliveries on the way (sent, not
     * yet granted back), not the unacked ones, which have no limit, as on RabbitMQ.
     */
    readonly windowed = false,
  ) {
    super(cid, new RemoteHost(sender), queue, false, exclusive, credit, priority);
  }

  send(entry: Entry): void {
    const did = this.nextDid++;
    this.inflight.set(did, entry);
    this.sent++;
    this.queue.unackedCount++;
    this.queue.stats.deliver++;
    // Out to a consumer that must settle it, as a local channel marks its deliveries (a quorum
    // queue's next owner counts it once more if this one dies first).
    if (this.queue.countsDeliveries) this.queue.checkedOut(entry);
    this.sender.deliver(this, did, entry);
  }

  /**
   * Holds a message handed out by basic.get on the other node under delivery id did: the node's
   * gets take their ids from one counter (RemoteConsumer.getDids), so that a holder made again
   * under the same id (the queue read anew here) never reuses one the other node may still ack.
   */
  hold(entry: Entry, did = RemoteConsumer.getDids++): number {
    this.inflight.set(did, entry);
    if (!this.countedByChannels) this.queue.unackedCount++;
    if (this.queue.countsDeliveries) this.queue.checkedOut(entry);
    return did;
  }

  /** Takes a delivery back from the other node: acked, returned to the queue (gone: its channel closed), or dropped. */
  settle(did: number, op: 'ack' | 'requeue' | 'drop', gone = false): void {
    const e = this.inflight.get(did);
    if (!e) return;
    this.inflight.delete(did);
    if (!this.countedByChannels) this.queue.unackedCount--;
    if (op === 'ack') this.queue.settle(e);
    else if (op === 'requeue') this.queue.requeue([e], gone);
    else this.queue.discard(e, 'rejected');
    this.queue.scheduleDispatch();
  }

  /** Its node went away or it was cancelled: everything still out goes back to the queue. */
  returnAll(): void {
    const all = [...this.inflight.values()];
    if (!this.countedByChannels) this.queue.unackedCount -= all.length;
    this.inflight.clear();
    if (all.length > 0) this.queue.requeue(all, true);
  }
}
