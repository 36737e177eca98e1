#!/usr/bin/env node
// Topic exchange micro-benchmark: TopicExchange.route() over 10,000 bindings with mixed '*' and
// '#' keys, timed over 100,000 routing keys. Needs `npm run build` (imports from dist/).
// Usage: node bench/topic-routing.mjs [--bindings 10000] [--keys 100000] [--seed 42] [--shape scale]
// --shape scale: the keys of `npm run bench:scale`'s topic step (bench/scale/keys.mjs: four words of
// 1,000 each, mostly distinct, to 1,000 queues) instead of 2-5 words of 100 with many '#'; it also
// prints the heap used per binding (run with --expose-gc for a settled figure).
import { TopicExchange } from '../dist/server/exchanges/topic.js';
import * as scaleKeys from './scale/keys.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N_BINDINGS = arg('bindings', 10_000);
const N_KEYS = arg('keys', 100_000);
let seed = arg('seed', 42) >>> 0;
const SCALE = process.argv.includes('--shape') && process.argv[process.argv.indexOf('--shape') + 1] === 'scale';

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

globalThis.gc?.();
const heap0 = process.memoryUsage().heapUsed;
const bindStart = process.cpuUsage();
const x = new TopicExchange({ name: 'bench', type: 'topic', durable: false, autoDelete: false, internal: false, arguments: new Map() });
const keys = [];
const noArgs = new Map();
const queues = Array.from({ length: 1000 }, (_, i) => ({ name: `q${i}` }));
for (let i = 0; i < N_BINDINGS; i++) {
  const key = SCALE ? scaleKeys.bindingKey(i) : bindingKey();
  keys.push(key);
  const destination = SCALE ? queues[i % 1000] : { name: `q${i}` }; // a fake queue: route() only collects destinations
  x.bind({ source: x, destination, routingKey: key, arguments: noArgs, routeMark: 0 });
}
const bindCpu = process.cpuUsage(bindStart);
globalThis.gc?.();
const heapPerBinding = (process.memoryUsage().heapUsed - heap0) / N_BINDINGS;
const routingKeys = SCALE ? scaleKeys.routingKeys(N_BINDINGS, N_KEYS) : Array.from({ length: N_KEYS }, routingKey);
const byName = new Map(queues.map((q) => [q, q.name]));

// correctness check on a sample
let mismatches = 0;
const out = [];
for (const rk of routingKeys.slice(0, SCALE ? 20 : 500)) {
  out.length = 0;
  x.route(rk, undefined, out);
  if (SCALE) {
    const got = [...new Set(out)].map((d) => d.name).sort().join();
    const want = [...new Set(keys.flatMap((k, i) => (matches(k, rk) ? [queues[i % 1000].name] : [])))].sort().join();
    if (got !== want) mismatches++;
    continue;
  }
  const got = new Set(out.map((d) => d.name));
  for (let i = 0; i < keys.length; i++) if (matches(keys[i], rk) !== got.has(`q${i}`)) mismatches++;
}

// warm-up, then the timed run
for (let i = 0; i < 20_000; i++) {
  out.length = 0;
  x.route(routingKeys[i % N_KEYS], undefined, out);
}
let matched = 0;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < N_KEYS; i++) {
  out.length = 0;
  x.route(routingKeys[i], undefined, out);
  matched += out.length;
}
const ns = Number(process.hrtime.bigint() - t0);
const cpu = process.cpuUsage(cpu0);
const cpuUs = cpu.user + cpu.system;

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
    cpuUsPerRoute: +(cpuUs / N_KEYS).toFixed(3),
    cpuUsPerBind: +((bindCpu.user + bindCpu.system) / N_BINDINGS).toFixed(3),
    heapBytesPerBinding: Math.round(heapPerBinding),
    sampleMismatchesVsReference: mismatches,
  }),
);
console.log(`topic route(): ${(ns / 1e3 / N_KEYS).toFixed(2)} µs per route (${N_BINDINGS} bindings, ${N_KEYS} routing keys)`);
