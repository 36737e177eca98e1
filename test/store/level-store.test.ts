// The LevelDB store behind its interface: group commit, recovery in order, clean-shutdown marker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store, StoredMessage } from '../../src/store/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const msg = (seq: number): StoredMessage => ({
  seq,
  redelivered: false,
  exchange: '',
  routingKey: 'q',
  properties: Buffer.from([0x10, 0x00, 2]),
  body: Buffer.from(`body-${seq}`),
});

const stores: [string, () => { make: () => Store }][] = [
  [
    'LevelStore',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
      dirs.push(dir);
      return { make: () => new LevelStore(dir) };
    },
  ],
  [
    'MemoryStore',
    () => {
      const s = new MemoryStore();
      return { make: () => s };
    },
  ],
];

describe.each(stores)('%s', (_name, setup) => {
  it('recovers queues and their messages in order, byte for byte, minus deleted ones', async () => {
    const { make } = setup();
    const s = make();
    const first = await s.open();
    expect(first.queues).toEqual([]);
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putQueue({ vhost: '/', name: 'gone', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    for (const seq of [300, 2, 70_000]) s.putMessage('/', 'a', msg(seq));
    s.putMessage('/', 'gone', msg(5));
    s.deleteMessage('/', 'a', 2);
    s.deleteQueue('/', 'gone');
    await s.flush();
    await s.close();

    const again = make();
    const state = await again.open();
    expect(state.cleanShutdown).toBe(true);
    expect(state.queues.map((q) => q.name)).toEqual(['a']);
    const got = state.messages.get('/\0a')!;
    expect(got.map((m) => m.seq)).toEqual([300, 70_000]);
    expect(Buffer.from(got[0]!.properties)).toEqual(msg(300).properties);
    expect(Buffer.from(got[0]!.body)).toEqual(msg(300).body);
    expect(state.messages.has('/\0gone')).toBe(false);
    await again.close();
  });

  it('reports an unclean shutdown', async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    // No close(): as if the process died here. Reopen through a fresh handle on the same data.
    const state = await (s instanceof LevelStore ? (await closeWithoutMarker(s), make()) : s).open();
    expect(state.cleanShutdown).toBe(false);
  });
});

async function closeWithoutMarker(s: LevelStore): Promise<void> {
  // Reach the database handle only to release its lock, as a dying process would.
  await (s as unknown as { db: { close(): Promise<void> } }).db.close();
}
