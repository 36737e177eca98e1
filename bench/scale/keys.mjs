// The topic step's binding keys and routing keys (bench/scale.mjs, bench/topic-routing.mjs --shape scale).

// Deterministic hashes of the binding index, so every broker gets the same bindings.
const hash = (i, salt) => {
  let h = Math.imul(i ^ salt, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  return h >>> 0;
};
/**
 * Binding i's four words (a.b.c.d, 1,000 of each level): a and b are i's digits in base 1,000, so
 * up to a million bindings have distinct (a, b) prefixes; c and d are hashes. Its pattern: 60 %
 * exact, 20 % `a.b.c.*`, 10 % `a.*.c.d`, 6 % `a.b.c.#`, 3 % `*.b.c.d`, 1 % `a.b.#`.
 */
export const words = (i) => [`a${i % 1000}`, `b${Math.floor(i / 1000) % 1000}`, `c${hash(i, 1) % 1000}`, `d${hash(i, 2) % 1000}`];
export function bindingKey(i) {
  const [a, b, c, d] = words(i);
  const t = hash(i, 3) % 100;
  if (t < 60) return `${a}.${b}.${c}.${d}`;
  if (t < 80) return `${a}.${b}.${c}.*`;
  if (t < 90) return `${a}.*.${c}.${d}`;
  if (t < 96) return `${a}.${b}.${c}.#`;
  if (t < 99) return `*.${b}.${c}.${d}`;
  return `${a}.${b}.#`;
}
/** Routing keys: half the concrete key of a random binding (about one match), half random words (almost none). */
export function routingKeys(nBindings, count) {
  const keys = [];
  for (let k = 0; k < count; k++) {
    const r = hash(k, 7);
    if (k % 2 === 0) keys.push(words(r % nBindings).join('.'));
    else keys.push(`a${r % 1000}.b${hash(k, 8) % 1000}.c${hash(k, 9) % 1000}.d${hash(k, 10) % 1000}`);
  }
  return keys;
}

