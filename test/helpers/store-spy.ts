// A spy on an in-process broker's store writes: LevelDB's (both batch forms: chained, and the array
// form at classic-level's own _batch, which the store's write cycle calls directly and
// abstract-level's batch(ops) calls for everyone else) and the journal's (src/store/journal.ts).
// Every write still goes to disk at once; while held, its completion is kept from the store until
// release(). Each write records whether it was synced and how many puts and deletes it had. With
// the journal, a cycle is done when its record is (LevelDB applies the batch behind it, unsynced,
// src/store/level-applies.ts): the record is the write counted (`by: 'journal'`), and LevelDB's
// apply of it is held like any write but not counted again.
import type { RunningBroker } from '../../src/index.js';

type Op = { type: string };
export interface Write {
  /** Made durable before the store heard it was written: by LevelDB's sync or the journal's. */
  sync: boolean;
  /** Which of the two synced it. */
  by: 'level' | 'journal' | null;
  puts: number;
  dels: number;
}

/**
 * Wraps b's store. onRelease gets the spy's release, to run after the test before the broker
 * closes (a write still held would hang its close).
 */
export function spyOnWrites(b: RunningBroker, onRelease: (release: () => void) => void) {
  const store = b.broker.store as unknown as {
    db: { batch: (...a: unknown[]) => unknown; _batch: (...a: unknown[]) => unknown };
    journal: { write: (r: object, sync: boolean) => Promise<void>; batchRecord: (ops: Op[]) => object } | null;
  };
  const db = store.db;
  const original = db.batch.bind(db) as (...a: unknown[]) => unknown;
  const originalArray = db._batch.bind(db) as (...a: unknown[]) => unknown;
  const events: string[] = [];
  const writes: Write[] = [];
  let hold: Promise<void> | null = null;
  let release = (): void => {};
  let held = 0;
  /** Waits for the write and then the hold; records w (null: a write not counted). */
  const finish = async (written: Promise<unknown>, w: Write | null): Promise<void> => {
    await written;
    const gate = hold;
    if (gate) {
      held++;
      await gate;
      held--;
    }
    if (!w) return;
    writes.push(w);
    events.push(`write sync=${w.sync} puts=${w.puts > 0}`);
  };
  const counts = (ops: Op[]): Pick<Write, 'puts' | 'dels'> => ({ puts: ops.filter((x) => x.type === 'put').length, dels: ops.filter((x) => x.type === 'del').length });
  const level = (sync: boolean): Pick<Write, 'sync' | 'by'> => ({ sync, by: sync ? 'level' : null });
  // The operations of each record, by record, and every operation that went in one.
  const recorded = new WeakMap<object, Op[]>();
  const journaled = new WeakSet<object>();
  const journal = store.journal;
  if (journal) {
    const batchRecord = journal.batchRecord.bind(journal);
    const write = journal.write.bind(journal);
    journal.batchRecord = (ops: Op[]) => {
      const r = batchRecord(ops);
      recorded.set(r, ops);
      return r;
    };
    journal.write = (r: object, sync: boolean) => {
      const ops = recorded.get(r);
      // A range deletion's record is not a batch: held, not counted.
      if (!ops) return finish(write(r, sync), null);
      // (A record made for a batch that then bypasses the journal is never written.)
      for (const o of ops) journaled.add(o);
      return finish(write(r, sync), { sync, by: sync ? 'journal' : null, ...counts(ops) });
    };
  }
  db.batch = (...args: unknown[]): unknown => {
    if (args.length > 0) return original(...args);
    const batch = original() as { put: (...a: unknown[]) => unknown; del: (...a: unknown[]) => unknown; write: (o?: { sync?: boolean }) => Promise<void> };
    const w: Write = { sync: false, by: null, puts: 0, dels: 0 };
    const put = batch.put.bind(batch);
    const del = batch.del.bind(batch);
    const write = batch.write.bind(batch);
    batch.put = (...a: unknown[]) => (w.puts++, put(...a));
    batch.del = (...a: unknown[]) => (w.dels++, del(...a));
    batch.write = (o?: { sync?: boolean }) => {
      Object.assign(w, level(o?.sync === true));
      return finish(write(o), w);
    };
    return batch;
  };
  db._batch = (...args: unknown[]): unknown => {
    const [ops, o] = args as [Op[], { sync?: boolean } | undefined];
    // LevelDB's apply of journaled batches: their records were counted.
    const applied = ops.length > 0 && ops.every((x) => journaled.has(x));
    return finish(originalArray(...args) as Promise<unknown>, applied ? null : { ...level(o?.sync === true), ...counts(ops) });
  };
  const spy = {
    events,
    writes,
    get held(): number {
      return held;
    },
    hold(): void {
      hold = new Promise<void>((r) => (release = r));
    },
    release(): void {
      hold = null;
      release();
    },
  };
  onRelease(() => spy.release());
  return spy;
}

