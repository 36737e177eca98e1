// A spy on an in-process broker's LevelDB handle (both batch forms: chained, and the array form at
// classic-level's own _batch, which the store's write cycle calls directly and abstract-level's
// batch(ops) calls for everyone else). Every write
// still goes to LevelDB at once; while held, its completion is kept from the store until release(),
// and each write records whether it was synced and how many puts and deletes it had. With the
// store's journal (src/store/journal.ts) a cycle's batch goes to LevelDB without sync while a record
// of it is written, synced or not, to the journal in the same tick: the spy sees that call first
// and counts the batch synced when its record was (`journal`), as LevelDB's own sync (`level`).
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
    journal: { write: (r: unknown, sync: boolean) => Promise<void> } | null;
  };
  const db = store.db;
  // The journal's record of the batch LevelDB gets next, and whether it is synced.
  let journalSync: boolean | null = null;
  const journal = store.journal;
  if (journal) {
    const write = journal.write.bind(journal);
    journal.write = (r: unknown, sync: boolean) => {
      journalSync = sync;
      return write(r, sync);
    };
  }
  const synced = (level: boolean): Pick<Write, 'sync' | 'by'> => {
    const j = journalSync;
    journalSync = null;
    return { sync: level || j === true, by: level ? 'level' : j === true ? 'journal' : null };
  };
  const original = db.batch.bind(db) as (...a: unknown[]) => unknown;
  const originalArray = db._batch.bind(db) as (...a: unknown[]) => unknown;
  const events: string[] = [];
  const writes: Write[] = [];
  let hold: Promise<void> | null = null;
  let release = (): void => {};
  let held = 0;
  const finish = async (written: Promise<unknown>, w: Write): Promise<void> => {
    await written;
    const gate = hold;
    if (gate) {
      held++;
      await gate;
      held--;
    }
    writes.push(w);
    events.push(`write sync=${w.sync} puts=${w.puts > 0}`);
  };
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
      Object.assign(w, synced(o?.sync === true));
      return finish(write(o), w);
    };
    return batch;
  };
  db._batch = (...args: unknown[]): unknown => {
    const [ops, o] = args as [Op[], { sync?: boolean } | undefined];
    const w: Write = { ...synced(o?.sync === true), puts: ops.filter((x) => x.type === 'put').length, dels: ops.filter((x) => x.type === 'del').length };
    return finish(originalArray(...args) as Promise<unknown>, w);
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

