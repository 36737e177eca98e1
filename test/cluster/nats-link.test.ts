// The retry rules of the cluster's NATS link: what a node waits through at its start.
import { describe, expect, it } from 'vitest';
import { isTransient, isTransientAtStart, retrying } from '../../src/cluster/nats-link.js';

const noPeers = (): Error => Object.assign(new Error('no suitable peers for placement'), { code: '400' });

describe('nats-link retries', () => {
  it('a bucket refused for want of servers (a NATS cluster still forming) is asked for again at a start, not elsewhere', async () => {
    expect(isTransient(noPeers())).toBe(false);
    expect(isTransientAtStart(noPeers())).toBe(true);
    expect(isTransientAtStart(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }))).toBe(true);
    expect(isTransientAtStart(new Error('stream name already in use'))).toBe(false);
    let calls = 0;
    const op = async (): Promise<string> => {
      if (++calls < 3) throw noPeers();
      return 'bucket';
    };
    await expect(retrying(op, 5_000, isTransientAtStart)).resolves.toBe('bucket');
    expect(calls).toBe(3);
    calls = 0;
    await expect(retrying(op, 5_000)).rejects.toThrow('no suitable peers');
    expect(calls).toBe(1);
  });
});
