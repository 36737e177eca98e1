// Store-level fixtures: a persistent message as the broker hands it to a Store, and a LevelStore
// left as a dying process leaves it.
import type { LevelStore } from '../../src/store/level-store.js';
import type { StoredMessage } from '../../src/store/store.js';

/** A persistent message to queue q with seq, body `body-<seq>` unless given. */
export const storedMessage = (seq: number, body: Buffer = Buffer.from(`body-${seq}`)): StoredMessage => ({
  seq,
  redelivered: false,
  exchange: '',
  routingKey: 'q',
  properties: Buffer.from([0x10, 0x00, 2]),
  body,
  expiresAt: 0,
});

/**
 * Releases the store's LevelDB lock without its clean-shutdown marker or a journal checkpoint, as
 * a killed process would: the next open sees an unclean stop.
 */
export async function closeWithoutMarker(s: LevelStore): Promise<void> {
  await (s as unknown as { db: { close(): Promise<void> } }).db.close();
}
