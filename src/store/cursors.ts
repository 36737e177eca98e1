// Reading a queue's messages back from LevelDB: one cursor per key range that may hold them (its
// segments, records of the layout before segments, paged transient messages), each yielding
// messages in seq order a LevelDB batch of values at a time; LevelStore merges them by seq.
import { bodyLengthOf, decodeMessage, seqOf, type NameCache } from './codec.js';
import { type Segment, SegmentView } from './segments.js';
import type { ReadMessage } from './store.js';

/**
 * How many values to ask LevelDB for at once: up to 10,000 small ones (one call per value costs
 * more than the value), but never much more than BATCH_BYTES, or a queue of 1 MiB bodies would
 * be read gigabytes at a time. Starts small and learns the values' size, and how many messages
 * each holds (one per record, up to thousands per segment).
 */
class BatchSizer {
  private avg = 0;
  private perValue = 1;
  next(maxCount: number, maxBytes: number): number {
    if (this.avg === 0) return Math.max(1, Math.min(this.perValue > 1 ? 1 : 16, maxCount));
    const byBytes = Math.floor(Math.min(maxBytes, BATCH_BYTES) / this.avg);
    return Math.max(1, Math.min(10_000, Math.ceil(maxCount / this.perValue), byBytes));
  }
  saw(batch: Buffer[], messages = batch.length): void {
    if (batch.length === 0) return;
    let n = 0;
    for (const v of batch) n += v.length;
    this.avg = n / batch.length;
    this.perValue = Math.max(1, messages / batch.length);
  }
}
const BATCH_BYTES = 16 * 1024 * 1024;

/** What a cursor needs of a LevelDB value iterator. */
export interface Values {
  nextv(size: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

/**
 * A queue's messages from one range of the store, in seq order, a LevelDB batch of values at a
 * time: peek() is the next seq (-1 once the values read are used up: refill(), unless done).
 */
export interface Cursor {
  done: boolean;
  peek(): number;
  take(): ReadMessage;
  /** Skips the next message; its body's size. */
  skip(): number;
  refill(maxCount: number, maxBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** One record per message: the paged range, and persistent messages written before segments. */
export class RecordCursor implements Cursor {
  done = false;
  private batch: Buffer[] = [];
  private i = 0;
  private readonly sizer = new BatchSizer();
  constructor(
    private readonly it: Values,
    private readonly paged: boolean,
    private readonly names: NameCache,
  ) {}
  peek(): number {
    return this.i < this.batch.length ? seqOf(this.batch[this.i]!) : -1;
  }
  take(): ReadMessage {
    const m = decodeMessage(this.batch[this.i++]!, this.names) as ReadMessage;
    m.paged = this.paged;
    return m;
  }
  skip(): number {
    return bodyLengthOf(this.batch[this.i++]!);
  }
  async refill(maxCount: number, maxBytes: number): Promise<void> {
    this.batch = await this.it.nextv(this.sizer.next(maxCount, maxBytes));
    this.i = 0;
    this.done = this.batch.length === 0;
    this.sizer.saw(this.batch);
  }
  close(): Promise<void> {
    return this.it.close();
  }
}

/** A queue's segments from the one holding fromSeq on, skipping acked messages. */
export class SegmentCursor implements Cursor {
  done = false;
  private batch: Buffer[] = [];
  private bi = 0;
  private view: SegmentView | null = null;
  private seg: Segment | null = null;
  private i = 0;
  private readonly sizer = new BatchSizer();
  constructor(
    private readonly it: Values,
    private readonly fromSeq: number,
    private readonly names: NameCache,
    /** The in-memory segment of a value read (registered if the store did not know it). */
    private readonly known: (view: SegmentView) => Segment | null,
  ) {}
  peek(): number {
    for (;;) {
      const v = this.view;
      if (v) {
        const seg = this.seg!;
        while (this.i < v.count) {
          const s = v.seq(this.i);
          if (s >= this.fromSeq && !seg.isAcked(this.i)) return s;
          this.i++;
        }
        this.view = null;
      }
      if (this.bi >= this.batch.length) return -1;
      const view = new SegmentView(this.batch[this.bi++]!);
      const seg = view.count > 0 ? this.known(view) : null;
      if (seg) {
        this.view = view;
        this.seg = seg;
        this.i = 0;
      }
    }
  }
  take(): ReadMessage {
    const i = this.i++;
    const v = this.view!;
    const m = decodeMessage(v.value, this.names, v.starts[i]!, v.ends[i]!, v.defaults(this.names)) as ReadMessage;
    const seg = this.seg!;
    if (seg.isRedelivered(i)) {
      m.redelivered = true;
      const count = seg.deliveryCountAt(i);
      if (count !== undefined) m.deliveryCount = count;
    }
    if (m.seq <= seg.log.delivered && !seg.isBack(i)) m.checkedOut = true;
    m.paged = false;
    return m;
  }
  skip(): number {
    const v = this.view!;
    const i = this.i++;
    return bodyLengthOf(v.value, v.starts[i]!, v.ends[i]!);
  }
  async refill(maxCount: number, maxBytes: number): Promise<void> {
    this.batch = await this.it.nextv(this.sizer.next(maxCount, maxBytes));
    this.bi = 0;
    this.done = this.batch.length === 0;
    let messages = 0;
    for (const v of this.batch) messages += v.readUInt32BE(1);
    this.sizer.saw(this.batch, messages);
  }
  close(): Promise<void> {
    return this.it.close();
  }
}

