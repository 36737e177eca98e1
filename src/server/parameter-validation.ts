// RabbitMQ's rabbit_parameter_validation, for the runtime parameters plugins register (shovels,
// federation upstreams): each check answers RabbitMQ 3.10.8's text for a bad value, and proplist
// lists a value's problems in its order (unknown keys first, then the constraints last to first).
import { parseAmqpUri, UriError } from '../client/uri.js';
import type { JsonValue } from '../store/store.js';

/** A JSON value as Erlang's ~p prints what RabbitMQ decoded it to. */
export function erlangTerm(v: JsonValue): string {
  if (typeof v === 'string') return `<<${JSON.stringify(v)}>>`;
  if (Array.isArray(v)) return `[${v.map(erlangTerm).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const kv = Object.keys(v)
      .sort()
      .map((k) => `${erlangTerm(k)} => ${erlangTerm(v[k]!)}`);
    return `#{${kv.join(',')}}`;
  }
  return String(v);
}

export type Check = (key: string, v: JsonValue) => string | null;

export const isObject = (v: JsonValue | undefined): v is { [k: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);
export const binary: Check = (k, v) => (typeof v === 'string' ? null : `${k} should be binary, actually was ${erlangTerm(v)}`);
export const number: Check = (k, v) => (typeof v === 'number' ? null : `${k} should be a number, actually was ${erlangTerm(v)}`);
export const boolean: Check = (k, v) => (typeof v === 'boolean' ? null : `${k} should be boolean, actually was ${erlangTerm(v)}`);
export const table: Check = (k, v) => (isObject(v) ? null : `${k} should be a table, actually was ${erlangTerm(v)}`);
export const enumOf =
  (values: string[]): Check =>
  (k, v) =>
    typeof v === 'string' && values.includes(v) ? null : `${k} should be one of [${values.map((x) => erlangTerm(x)).join(',')}], actually was ${erlangTerm(v)}`;
/** One AMQP URI or a non-empty list of them (src-uri, dest-uri, a federation upstream's uri). */
export const uri: Check = (k, v) => {
  const one = (u: JsonValue): string | null => {
    if (typeof u !== 'string') return `${k} should be binary, actually was ${erlangTerm(u)}`;
    try {
      parseAmqpUri(u);
      return null;
    } catch (e) {
      if (e instanceof UriError) return `${JSON.stringify(u)} not a valid URI: ${e.message}`;
      throw e;
    }
  };
  if (typeof v === 'string') return one(v);
  if (!Array.isArray(v)) return `${k} should be list, actually was ${erlangTerm(v)}`;
  // An empty list is taken by 3.10.8 and then crashes its worker: refused here.
  if (v.length === 0) return `${k} should be a list of at least one URI, actually was []`;
  for (const u of v) {
    const bad = one(u);
    if (bad) return bad;
  }
  return null;
};

/** rabbit_parameter_validation:proplist: each key's problem, last constraint first, unknown keys first of all. */
export function proplist(name: string, constraints: [string, Check, boolean][], value: { [k: string]: JsonValue }): string[] {
  const out: string[] = [];
  for (const [k, check, mandatory] of constraints) {
    if (k in value) {
      const bad = check(k, value[k]!);
      if (bad) out.unshift(bad);
    } else if (mandatory) out.unshift(`Key "${k}" not found in ${name}`);
  }
  const known = new Set(constraints.map(([k]) => k));
  const unknown = Object.keys(value)
    .filter((k) => !known.has(k))
    .sort();
  if (unknown.length > 0) out.unshift(`Unrecognised terms [${unknown.map((k) => `{${erlangTerm(k)},${erlangTerm(value[k]!)}}`).join(',')}] in ${name}`);
  return out;
}

