// Large bodies in slabs the broker reuses, so that their bytes are not garbage for V8.
//
// Why: a body kept in the socket reads it arrived in (BodyPieces) lives until its consumer acks
// it, which under load outlasts two young-generation collections, so V8 promotes it; a promoted
// ArrayBuffer's memory is given back only by a full mark-compact, and V8 starts one per ~64 MiB of
// it. A 1 MiB-body flood ran a full collection every ~50 ms (a quarter of the broker's CPU in
// `perf`). Copied into slabs that go back to this pool when the message is acked (and, for a
// persistent one, its store write is done), the bodies allocate nothing, and the reads they came
// in die young.
//
// Who may give a body back is the server's business (Message.recycle, under strict conditions);
// this file only keeps the slabs and the counts those conditions are made of.
import { Buffer } from 'node:buffer';
import { BodyPieces } from './body.js';

/** Slab size: a 64 KiB body takes one, a 1 MiB body sixteen. */
export const SLAB_SIZE = 64 * 1024;

/**
 * Every this often, idle slabs that no body needed since the last look are let go: after a flood
 * the pool shrinks back within two looks, while in a steady flow the slabs keep going round.
 * There is no other bound: idle and busy slabs together are never more than the most bodies held
 * at once, which the memory alarm bounded when they were taken.
 */
const TRIM_EVERY_MS = 5000;

/** Every this many new slabs (16 MiB), the growth listeners hear of it (the memory alarm looks). */
const GROWTH_EVERY = 256;

class SlabPool {
  private readonly idle: Buffer[] = [];
  /** The fewest idle slabs since the last look: that many were not needed. */
  private lowWater = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Counters for tests: slabs made, and slabs handed out again. */
  made = 0;
  reused = 0;
  private readonly growth = new Set<() => void>();

  /**
   * fn is called each time the pool has made another 16 MiB of slabs: large bodies arriving faster
   * than the memory alarm's timer looks (a 1 MiB flood brings ~400 MiB in its 250 ms).
   */
  onGrowth(fn: () => void): () => void {
    this.growth.add(fn);
    return () => this.growth.delete(fn);
  }

  take(): Buffer {
    const s = this.idle.pop();
    if (s) {
      if (this.idle.length < this.lowWater) this.lowWater = this.idle.length;
      this.reused++;
      return s;
    }
    this.lowWater = 0;
    if (++this.made % GROWTH_EVERY === 0) for (const fn of this.growth) fn();
    // Outside Node's shared pool: a slab is a whole ArrayBuffer of its own, so returning it can
    // never hand out bytes another Buffer still views.
    return Buffer.allocUnsafeSlow(SLAB_SIZE);
  }

  give(slabs: readonly Buffer[]): void {
    for (const s of slabs) this.idle.push(s);
    if (!this.timer && this.idle.length > 0) {
      this.lowWater = this.idle.length;
      this.timer = setInterval(() => this.trim(), TRIM_EVERY_MS);
      this.timer.unref();
    }
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Bytes kept idle: free memory as far as the memory alarm is concerned (alarms.ts). */
  get idleBytes(): number {
    return this.idle.length * SLAB_SIZE;
  }

  private trim(): void {
    this.idle.length -= Math.min(this.lowWater, this.idle.length);
    this.lowWater = this.idle.length;
    if (this.idle.length === 0) {
      clearInterval(this.timer!);
      this.timer = null;
    }
  }
}

export const slabPool = new SlabPool();

/**
 * A body copied into pool slabs. The counts say how widely it was shared; the server gives the
 * slabs back only when they show a single, simple life (Message.recycle).
 */
export class PooledBody extends BodyPieces {
  /** Messages made with this body (a second one, e.g. direct reply-to's rewrite, shares it). */
  owners = 0;
  /** Queues it was put on. */
  enqueues = 0;
  /** Consumer deliveries written from it by reference. */
  deliveries = 0;
  /** Read for any other purpose (paged, traced, copied, returned, got): never given back. */
  pinned = false;
  /** Store writes that still read it (Message.storable): it goes back only once they are done. */
  holds = 0;
  /** Acked while a store write still held it: given back when the last hold goes. */
  recycleWhenFree = false;
  /** Given back: its slabs may hold another message's bytes now. */
  recycled = false;

  constructor(
    pieces: readonly Buffer[],
    size: number,
    /** The whole slabs, as taken from the pool. */
    readonly slabs: readonly Buffer[],
  ) {
    super(pieces, size);
  }

  recycle(): void {
    this.recycled = true;
    slabPool.give(this.slabs);
  }
}

/** Fills slabs with one body's bytes as its frames come. */
export class SlabFiller {
  private slabs: Buffer[] = [];
  private at = SLAB_SIZE; // in the last slab: full, so the first write takes one

  add(b: Buffer, start: number, end: number): void {
    while (start < end) {
      if (this.at === SLAB_SIZE) {
        this.slabs.push(slabPool.take());
        this.at = 0;
      }
      const n = Math.min(end - start, SLAB_SIZE - this.at);
      this.slabs[this.slabs.length - 1]!.set(b.subarray(start, start + n), this.at);
      this.at += n;
      start += n;
    }
  }

  /** The body, and a fresh start. */
  finish(size: number): PooledBody {
    const slabs = this.slabs;
    const pieces = slabs.slice();
    if (pieces.length > 0 && this.at < SLAB_SIZE) pieces[pieces.length - 1] = slabs[slabs.length - 1]!.subarray(0, this.at);
    this.slabs = [];
    this.at = SLAB_SIZE;
    return new PooledBody(pieces, size, slabs);
  }

  /** A body cut off (channel or connection closed): its slabs are nobody's yet. */
  abandon(): void {
    if (this.slabs.length > 0) slabPool.give(this.slabs);
    this.slabs = [];
    this.at = SLAB_SIZE;
  }
}
