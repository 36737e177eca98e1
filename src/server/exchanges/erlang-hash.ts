// The hashing RabbitMQ's consistent-hash exchange routes by, computed as the Erlang VM computes it,
// so that a key goes to the same bucket on Warren as on RabbitMQ: erlang:phash2/1 of the key
// (make_hash2 in erts' utils.c: Bob Jenkins' block hash over a binary's bytes, and the same mix
// for tuples, atoms and small integers) and the plugin's jump consistent hash, whose random steps
// come from rand's exs1024 (xorshift1024*) seeded with {K, K, K}. Only the terms the exchange can
// meet are handled: binaries, atoms, small integers and tuples of these.
//
// A term, as it appears to the hash.
import { Buffer } from 'node:buffer';
export type ErlTerm = Buffer | { atom: string } | { int: number } | { tuple: ErlTerm[] };

const HCONST = 0x9e3779b9;
const HCONST_3 = 0xdaa66d2b;
const HCONST_9 = 0x8ff34781;
const HCONST_13 = 0x08d12e65;

/** Bob Jenkins' mix of three 32-bit words, as erts' MIX macro: returns the new c (a and b in st). */
function mix(st: Uint32Array): void {
  let a = st[0]!;
  let b = st[1]!;
  let c = st[2]!;
  a = (a - b - c) >>> 0; a = (a ^ (c >>> 13)) >>> 0;
  b = (b - c - a) >>> 0; b = (b ^ (a << 8)) >>> 0;
  c = (c - a - b) >>> 0; c = (c ^ (b >>> 13)) >>> 0;
  a = (a - b - c) >>> 0; a = (a ^ (c >>> 12)) >>> 0;
  b = (b - c - a) >>> 0; b = (b ^ (a << 16)) >>> 0;
  c = (c - a - b) >>> 0; c = (c ^ (b >>> 5)) >>> 0;
  a = (a - b - c) >>> 0; a = (a ^ (c >>> 3)) >>> 0;
  b = (b - c - a) >>> 0; b = (b ^ (a << 10)) >>> 0;
  c = (c - a - b) >>> 0; c = (c ^ (b >>> 15)) >>> 0;
  st[0] = a;
  st[1] = b;
  st[2] = c;
}

const st = new Uint32Array(3);

function blockHash(k: Buffer, initval: number): number {
  st[0] = st[1] = HCONST;
  st[2] = initval;
  let i = 0;
  let len = k.length;
  while (len >= 12) {
    st[0] = (st[0]! + k.readUInt32LE(i)) >>> 0;
    st[1] = (st[1]! + k.readUInt32LE(i + 4)) >>> 0;
    st[2] = (st[2]! + k.readUInt32LE(i + 8)) >>> 0;
    mix(st);
    i += 12;
    len -= 12;
  }
  let a = st[0]!;
  let b = st[1]!;
  let c = (st[2]! + k.length) >>> 0;
  // The tail, as the C switch falls through (c's first byte is the length's).
  if (len >= 11) c = (c + (k[i + 10]! << 24)) >>> 0;
  if (len >= 10) c = (c + (k[i + 9]! << 16)) >>> 0;
  if (len >= 9) c = (c + (k[i + 8]! << 8)) >>> 0;
  if (len >= 8) b = (b + (k[i + 7]! << 24)) >>> 0;
  if (len >= 7) b = (b + (k[i + 6]! << 16)) >>> 0;
  if (len >= 6) b = (b + (k[i + 5]! << 8)) >>> 0;
  if (len >= 5) b = (b + k[i + 4]!) >>> 0;
  if (len >= 4) a = (a + (k[i + 3]! << 24)) >>> 0;
  if (len >= 3) a = (a + (k[i + 2]! << 16)) >>> 0;
  if (len >= 2) a = (a + (k[i + 1]! << 8)) >>> 0;
  if (len >= 1) a = (a + k[i]!) >>> 0;
  st[0] = a;
  st[1] = b;
  st[2] = c;
  mix(st);
  return st[2]!;
}

/** The atom table's hash of an atom's name (erts' atom_hash, hashpjw over its bytes). */
function atomHash(name: string): number {
  let h = 0;
  for (const byte of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + byte) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) {
      h = (h ^ (g >>> 24)) >>> 0;
      h = (h ^ g) >>> 0;
    }
  }
  return h;
}

/** UINT32_HASH_2(x, y, aconst): mixes two words into hash. */
function hash2(x: number, y: number, aconst: number, hash: number): number {
  st[0] = (aconst + x) >>> 0;
  st[1] = (aconst + y) >>> 0;
  st[2] = hash;
  mix(st);
  return st[2]!;
}

/** make_hash2 of a term (a 32-bit value); phash2 keeps its low 27 bits. */
function makeHash2(term: ErlTerm): number {
  // The fast paths erts takes for a term that is itself an atom or a small integer.
  if (!Buffer.isBuffer(term) && 'atom' in term) return atomHash(term.atom);
  let hash = 0;
  const stack: ErlTerm[] = [term];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (Buffer.isBuffer(t)) {
      const con = (HCONST_13 + hash) >>> 0;
      hash = t.length === 0 ? con : blockHash(t, con);
    } else if ('atom' in t) {
      hash = hash2(atomHash(t.atom), 0, HCONST_3, hash);
    } else if ('int' in t) {
      // SINT32_HASH: a negative number is mixed twice (as erts does), first negated.
      const x = t.int;
      if (x < 0) hash = hash2(-x >>> 0, 0, HCONST, hash);
      hash = hash2(x >>> 0, 0, HCONST, hash);
    } else {
      hash = hash2(t.tuple.length, 0, HCONST_9, hash);
      for (let i = t.tuple.length - 1; i >= 0; i--) stack.push(t.tuple[i]!);
    }
  }
  return hash;
}

/** erlang:phash2/1 (small integers only within 28 bits: erts hashes larger ones as bignums). */
export function phash2(term: ErlTerm): number {
  return makeHash2(term) & 0x7ffffff;
}

const M64 = (1n << 64n) - 1n;
const M21 = 0x1fffffn;

/** rand's exs64_next (xorshift64*), which exs1024's seeding runs. */
function exs64Next(r: bigint): [bigint, bigint] {
  const r1 = r ^ (r >> 12n);
  const r2 = r1 ^ ((r1 << 25n) & M64);
  const r3 = r2 ^ (r2 >> 27n);
  return [(r3 * 2685821657736338717n) & M64, r3];
}

/** rand's exs1024 state seeded with {k, k, k}: its sixteen words, then the step through them. */
class Exs1024 {
  private readonly s: bigint[] = [];
  private p = 0;

  constructor(k: number) {
    const b = (mul: bigint): bigint => (((BigInt(k) & M21) + 1n) * mul) & M21;
    let r = (b(2097131n) << 43n) | (b(2097133n) << 22n) | (b(2097143n) << 1n) | 1n;
    const words: bigint[] = [];
    for (let i = 0; i < 16; i++) {
      const [x, next] = exs64Next(r);
      words.push(x);
      r = next;
    }
    // rand keeps them as a list built by prepending: the last generated comes first.
    this.s = words.reverse();
  }

  /** xorshift1024*: the list [S0, S1 | Rest] as a ring, S0 at p. */
  next(): bigint {
    const s = this.s;
    const s0 = s[this.p]!;
    const q = (this.p + 1) & 15;
    let s1 = s[q]!;
    s1 ^= (s1 << 31n) & M64;
    s1 ^= s1 >> 11n;
    const ns1 = s0 ^ (s0 >> 30n) ^ s1;
    s[q] = ns1;
    this.p = q;
    return (ns1 * 1181783497276652981n) & M64;
  }

  /** rand:uniform_s/1 for a 64-bit generator: the top 53 bits as a float in [0, 1). */
  uniform(): number {
    return Number(this.next() >> 11n) * 2 ** -53;
  }
}

/**
 * The plugin's jump_consistent_hash(Key, N) for a key that is not an integer: phash2 of it, then
 * Lamping and Veach's jump hash with exs1024's steps. A bucket in [0, n).
 */
export function jumpConsistentHash(key: ErlTerm, n: number): number {
  if (n === 1) return 0;
  const rng = new Exs1024(phash2(key));
  let b = -1;
  let j = 0;
  while (j < n) {
    b = j;
    j = Math.trunc((b + 1) / rng.uniform());
  }
  return b;
}
