// The topic exchange's burst trie against a reference matcher (RabbitMQ's semantics): random keys
// over a small vocabulary, so branches burst into nodes, hold '*' and '#' in every position, share
// keys between destinations, and are unbound again (pruning) — after every step each routing key
// reaches exactly the destinations the reference says. And the binding table: same destination,
// key and arguments bind once, in the order they were made.
import { describe, expect, it } from 'vitest';
import type { FieldTable } from '../../src/frames/index.js';
import { NO_ARGUMENTS, type Binding, type Destination } from '../../src/server/exchanges/exchange.js';
import { TopicExchange } from '../../src/server/exchanges/topic.js';

function matches(binding: string, key: string): boolean {
  const b = binding === '' ? [] : binding.split('.');
  const k = key === '' ? [] : key.split('.');
  const m = (i: number, j: number): boolean => {
    if (i === b.length) return j === k.length;
    if (b[i] === '#') {
      for (let s = j; s <= k.length; s++) if (m(i + 1, s)) return true;
      return false;
    }
    if (j === k.length) return false;
    return (b[i] === '*' || b[i] === k[j]) && m(i + 1, j + 1);
  };
  return m(0, 0);
}

let seed = 7;
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
const WORDS = ['a', 'b', 'c', '', 'dd'];

const bindingKey = (): string => {
  const n = Math.floor(rand() * 5); // 0..4 words; 0 is the empty key
  return Array.from({ length: n }, () => {
    const r = rand();
    return r < 0.6 ? pick(WORDS) : r < 0.8 ? '*' : '#';
  }).join('.');
};
const routingKey = (): string => Array.from({ length: Math.floor(rand() * 6) }, () => pick(WORDS)).join('.');

const dest = (name: string): Destination => ({ name }) as unknown as Destination;
const spec = { name: 'x', type: 'topic', durable: false, autoDelete: false, internal: false, arguments: new Map() as FieldTable };

describe('TopicExchange (burst trie)', () => {
  it('routes as the reference matcher through binds, bursts and unbinds', () => {
    const x = new TopicExchange(spec);
    const dests = Array.from({ length: 12 }, (_, i) => dest(`q${i}`));
    const live: Binding[] = [];
    const keys = Array.from({ length: 300 }, routingKey);
    keys.push('', 'a', '.', 'a..b', '#', '*');
    const check = (): void => {
      for (const rk of keys) {
        const out: Destination[] = [];
        x.route(rk, undefined, out);
        const got = [...new Set(out)].map((d) => d.name).sort();
        const want = [...new Set(live.filter((b) => matches(b.routingKey, rk)).map((b) => b.destination))].map((d) => d.name).sort();
        expect(got, `routing key '${rk}'`).toEqual(want);
      }
    };
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 150; i++) {
        const b: Binding = { source: x, destination: pick(dests), routingKey: bindingKey(), arguments: NO_ARGUMENTS, routeMark: 0 };
        if (x.bind(b)) live.push(b);
      }
      check();
      // unbind about half, in random order
      for (let i = live.length - 1; i >= 0; i--) {
        if (rand() < 0.5) {
          expect(x.unbind(live[i]!)).toBe(true);
          live.splice(i, 1);
        }
      }
      check();
    }
    for (const b of [...live]) x.unbind(b);
    live.length = 0;
    check();
    expect(x.bindings.size).toBe(0);
  });

  it('binds a destination, key and arguments once, and keeps the order bindings were made', () => {
    const x = new TopicExchange(spec);
    const q = dest('q');
    const args: FieldTable = new Map([['x-k', { type: 'S', value: Buffer.from('v') }]]) as FieldTable;
    const same: FieldTable = new Map([['x-k', { type: 'S', value: Buffer.from('v') }]]) as FieldTable;
    const made: Binding[] = [];
    for (let i = 0; i < 20; i++) {
      const b: Binding = { source: x, destination: q, routingKey: `k${i}`, arguments: NO_ARGUMENTS, routeMark: 0 };
      expect(x.bind(b)).toBe(true);
      made.push(b);
    }
    expect(x.bind({ source: x, destination: q, routingKey: 'k3', arguments: new Map(), routeMark: 0 })).toBe(false);
    const withArgs: Binding = { source: x, destination: q, routingKey: 'k3', arguments: args, routeMark: 0 };
    expect(x.bind(withArgs)).toBe(true);
    expect(x.bind({ source: x, destination: q, routingKey: 'k3', arguments: same, routeMark: 0 })).toBe(false);
    expect(x.bindings.get(q, 'k3', same)).toBe(withArgs);
    expect(x.bindings.get(q, 'k3', new Map())).toBe(made[3]);
    expect(x.bindings.get(dest('other'), 'k3', new Map())).toBeUndefined();
    expect([...x.bindings.values()]).toEqual([...made, withArgs]);
    expect(x.unbind(made[3]!)).toBe(true);
    expect(x.unbind(made[3]!)).toBe(false);
    expect(x.bindings.get(q, 'k3', new Map())).toBeUndefined();
    expect(x.bindings.get(q, 'k3', args)).toBe(withArgs);
    expect(x.bindings.size).toBe(20);
  });

  it('finds, routes and unbinds one key bound to many destinations (past the scanned list)', () => {
    const x = new TopicExchange(spec);
    const dests = Array.from({ length: 40 }, (_, i) => dest(`m${i}`));
    const args: FieldTable = new Map([['x-k', { type: 'S', value: Buffer.from('v') }]]) as FieldTable;
    const made = new Map<string, Binding>();
    for (const key of ['orders.#', 'orders', 'orders.*.eu']) {
      for (const d of dests) {
        const b: Binding = { source: x, destination: d, routingKey: key, arguments: NO_ARGUMENTS, routeMark: 0 };
        expect(x.bind(b)).toBe(true);
        made.set(`${key} ${d.name}`, b);
        expect(x.bind({ source: x, destination: d, routingKey: key, arguments: new Map(), routeMark: 0 })).toBe(false);
      }
      // the same key and destination with arguments is another binding
      const withArgs: Binding = { source: x, destination: dests[5]!, routingKey: key, arguments: args, routeMark: 0 };
      expect(x.bind(withArgs)).toBe(true);
      expect(x.bindings.get(dests[5]!, key, args)).toBe(withArgs);
      expect(x.unbind(withArgs)).toBe(true);
    }
    const route = (rk: string): string[] => {
      const out: Destination[] = [];
      x.route(rk, undefined, out);
      return [...new Set(out)].map((d) => d.name).sort();
    };
    const all = dests.map((d) => d.name).sort();
    expect(route('orders')).toEqual(all);
    expect(route('orders.x.eu')).toEqual(all);
    expect(route('other')).toEqual([]);
    for (const d of dests) expect(x.bindings.get(d, 'orders', new Map())).toBe(made.get(`orders ${d.name}`));
    // unbind every other destination's 'orders' and 'orders.#'
    dests.forEach((d, i) => {
      if (i % 2 === 0) {
        expect(x.unbind(made.get(`orders ${d.name}`)!)).toBe(true);
        expect(x.unbind(made.get(`orders.# ${d.name}`)!)).toBe(true);
        expect(x.bindings.get(d, 'orders', new Map())).toBeUndefined();
      }
    });
    const odd = dests.filter((_, i) => i % 2 === 1).map((d) => d.name).sort();
    expect(route('orders')).toEqual(odd);
    expect(route('orders.x.eu')).toEqual(all); // 'orders.*.eu' is still bound for all of them
    expect(route('orders.x')).toEqual(odd);
    expect(x.bindings.size).toBe(80);
  });
});
