#!/usr/bin/env node
// Topic exchange micro-benchmark: TopicExchange.route() over 10,000 bindings with mixed '*' and
// '#' keys, timed over 100,000 routing keys. Needs `npm run build` (imports from dist/).
// Usage: node bench/topic-routing.mjs [--bindings 10000] [--keys 100000] [--seed 42]
import { TopicExchange } from '../dist/server/exchanges/topic.js';
import { Exchange } from '../dist/server/exchanges/exchange.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N_BINDINGS = arg('bindings', 10_000);
const N_KEYS = arg('keys', 100_000);
let seed = arg('seed', 42) >>> 0;

// mulberry32: a small deterministic PRNG, so runs are comparable
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const WORDS = Array.from({ length: 100 }, (_, i) => `w${i}`);

function bindingKey() {
  const n = between(2, 5);
  const words = [];
  for (let i = 0; i < n; i++) {
    const r = rand();
    words.push(r < 0.75 ? pick(WORDS) : r < 0.93 ? '*' : '#');
  }
  return words.join('.');
}

function routingKey() {
  const n = between(2, 6);
  const words = [];
  for (let i = 0; i < n; i++) words.push(pick(WORDS));
  return words.join('.');
}

// Reference matcher (RabbitMQ semantics) to check a sample of the routes.
function matches(binding, key) {
  const b = binding === '' ? [] : binding.split('.');
  const k = key === '' ? [] : key.split('.');
  const m = (i, j) => {
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

const x = new TopicExchange({ name: 'bench', type: 'topic', durable: false, autoDelete: false, internal: false, arguments: new Map() });
const keys = [];
const noArgs = new Map();
for (let i = 0; i < N_BINDINGS; i++) {
  const key = bindingKey();
  keys.push(key);
  const destination = { name: `q${i}` }; // a fake queue: route() only collects destinations
  x.bind({ source: x, destination, routingKey: key, arguments: noArgs, id: Exchange.bindingId(destination, key, noArgs) });
}
const routingKeys = Array.from({ length: N_KEYS }, routingKey);

// correctness check on a sample
let mismatches = 0;
const out = [];
for (const rk of routingKeys.slice(0, 500)) {
  out.length = 0;
  x.route(rk, undefined, out);
  const got = new Set(out.map((d) => d.name));
  for (let i = 0; i < keys.length; i++) if (matches(keys[i], rk) !== got.has(`q${i}`)) mismatches++;
}

// warm-up, then the timed run
for (let i = 0; i < 20_000; i++) {
  out.length = 0;
  x.route(routingKeys[i % N_KEYS], undefined, out);
}
let matched = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N_KEYS; i++) {
  out.length = 0;
  x.route(routingKeys[i], undefined, out);
  matched += out.length;
}
const ns = Number(process.hrtime.bigint() - t0);

const hashes = keys.filter((k) => k.includes('#')).length;
const stars = keys.filter((k) => k.includes('*')).length;
console.log(
  JSON.stringify({
    bindings: N_BINDINGS,
    bindingsWithHash: hashes,
    bindingsWithStar: stars,
    routes: N_KEYS,
    avgMatchesPerRoute: +(matched / N_KEYS).toFixed(2),
    totalMs: +(ns / 1e6).toFixed(1),
    usPerRoute: +(ns / 1e3 / N_KEYS).toFixed(3),
    sampleMismatchesVsReference: mismatches,
  }),
);
console.log(`topic route(): ${(ns / 1e3 / N_KEYS).toFixed(2)} µs per route (${N_BINDINGS} bindings, ${N_KEYS} routing keys)`);
