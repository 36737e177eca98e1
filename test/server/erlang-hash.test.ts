// erlang-hash.ts against the Erlang VM itself: each expected value was printed by OTP 25's erl
// (erlang:phash2/1, and the consistent-hash plugin's jump_consistent_hash over rand's exs1024).
import { describe, expect, it } from 'vitest';
import { jumpConsistentHash, phash2, type ErlTerm } from '../../src/server/exchanges/erlang-hash.js';

// term, phash2, bucket of 2, of 7, of 1000
const CASES: [ErlTerm, number, number, number, number][] = [
  // <<>>
  [Buffer.from(''), 13708901, 0, 6, 161],
  // <<"a">>
  [Buffer.from('a'), 112802447, 1, 6, 47],
  // <<"abc">>
  [Buffer.from('abc'), 98228475, 1, 5, 543],
  // <<"hello world!">>
  [Buffer.from('hello world!'), 25699699, 0, 6, 597],
  // <<"hello world, long key">>
  [Buffer.from('hello world, long key'), 3032720, 0, 4, 888],
  // <<"key-12345678901234567890">>
  [Buffer.from('key-12345678901234567890'), 67998916, 1, 1, 625],
  // {longstr, <<"v">>}
  [{ tuple: [{ atom: 'longstr' }, Buffer.from('v')] }, 83007481, 1, 5, 703],
  // undefined
  [{ atom: 'undefined' }, 45914356, 1, 1, 491],
  // {signedint, 5}
  [{ tuple: [{ atom: 'signedint' }, { int: 5 }] }, 40839585, 1, 4, 796],
  // {signedint, -7}
  [{ tuple: [{ atom: 'signedint' }, { int: -7 }] }, 44902276, 0, 4, 579],
  // {long, 123456}
  [{ tuple: [{ atom: 'long' }, { int: 123456 }] }, 18962763, 0, 6, 644],
  // {bool, true}
  [{ tuple: [{ atom: 'bool' }, { atom: 'true' }] }, 32030443, 0, 4, 885],
];

describe('Erlang hashing for x-consistent-hash', () => {
  it('phash2 and the jump hash give what OTP 25 gives', () => {
    for (const [term, hash, b2, b7, b1000] of CASES) {
      expect([phash2(term), jumpConsistentHash(term, 2), jumpConsistentHash(term, 7), jumpConsistentHash(term, 1000)]).toEqual([hash, b2, b7, b1000]);
    }
  });

  it('keys key1 … key30 over 10 buckets land where OTP 25 puts them', () => {
    const got = Array.from({ length: 30 }, (_, i) => jumpConsistentHash(Buffer.from(`key${i + 1}`), 10));
    expect(got.join(' ')).toBe('3 8 3 9 9 2 6 8 5 5 1 0 7 3 6 8 4 3 9 2 2 3 3 2 0 2 6 3 9 9');
  });
});
