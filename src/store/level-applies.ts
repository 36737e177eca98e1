// LevelDB's side of the journal's batches (journal.ts, level-store.ts writeBatch). A write cycle is
// done, and its confirms go, once its record is on disk in the journal; LevelDB is handed the same
// operations without sync and applies them behind it, here, one batch at a time in the order they
// came (operations queued while a batch is applied go together as the next one).
//
// Why: waiting for both made each cycle as slow as the slower of two writes on two pool threads
// whose completions queue behind the same busy main thread; goperf's publish-only with the cycle
// waiting for the journal alone: 992k-1,014k confirmed msgs/s against 890k-941k, 4 of 4 pairs
// (README, Performance: "Publish-only: where a cycle's time goes").
//
// What this asks of the rest of the store: whatever reads LevelDB, or deletes a key range from it,
// first waits for settled(), so it sees every operation handed over before it; a checkpoint waits
// for it too before it syncs LevelDB's logs (records it declares done must be in them). The journal
// bounds how far LevelDB may fall behind: a record is never written over one a replay would need
// (any since the last checkpoint), and a checkpoint waits here. Long before that, the store makes
// its cycles wait for LevelDB again once the bytes it has not applied pass a quarter of the
// journal (level-store.ts writeBatch): a LevelDB slowed by its compactions then slows the
// publishers as it did before, rather than in one stall when the journal is full.

/** A promise with its settlers, made before anyone needs it. */
export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A failed write is reported to whoever awaits it; an unobserved one must not crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class LevelApplies<Op> {
  /** Operations handed over while a batch is applied: the next batch, in order. */
  private queued: Op[][] = [];
  /** Settles with the queued operations' batch; made with the first of them. */
  private queuedDone: Deferred | null = null;
  /** Settles with the batch LevelDB applies now. */
  private running: Promise<void> | null = null;
  /** An apply failed: LevelDB lacks what the journal holds, so nothing may read or write it on. */
  private failure: { error: unknown } | null = null;
  private unapplied = 0;
  private queuedBytes = 0;

  /** Bytes handed over and not applied yet (queued, and the batch LevelDB applies now). */
  get behind(): number {
    return this.unapplied;
  }

  constructor(private readonly apply: (ops: Op[]) => Promise<void>) {}

  /** Hands ops (of about bytes) to LevelDB, after everything handed before. Throws once an apply has failed. */
  push(ops: Op[], bytes: number): void {
    if (this.failure) throw this.failure.error;
    this.queued.push(ops);
    this.queuedBytes += bytes;
    this.unapplied += bytes;
    this.queuedDone ??= deferred();
    if (!this.running) this.next();
  }

  /** Resolves once everything handed over so far is in LevelDB; rejects once an apply failed. */
  settled(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.error);
    return this.queuedDone?.promise ?? this.running ?? Promise.resolve();
  }

  private next(): void {
    const parts = this.queued;
    const done = this.queuedDone!;
    const bytes = this.queuedBytes;
    this.queued = [];
    this.queuedBytes = 0;
    this.queuedDone = null;
    this.running = done.promise;
    let applied: Promise<void>;
    try {
      applied = this.apply(parts.length === 1 ? parts[0]! : parts.flat());
    } catch (e) {
      // A throw, not a rejection: the same failure (running must not stay set for ever).
      applied = Promise.reject(e);
    }
    applied.then(
      () => {
        this.running = null;
        this.unapplied -= bytes;
        done.resolve();
        if (this.queued.length > 0) this.next();
      },
      (e: unknown) => {
        this.failure = { error: e };
        this.running = null;
        done.reject(e);
        this.queuedDone?.reject(e);
        this.queuedDone = null;
        this.queued = [];
      },
    );
  }
}
