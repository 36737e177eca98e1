// A binding's arguments in RabbitMQ's order: rabbit_binding sorts the table by key before it adds,
// finds or removes a binding, so {x-match, k} and {k, x-match} name one binding there (an unbind
// with the keys in another order removes it) and every listing shows the keys sorted.
import { Buffer } from 'node:buffer';
import type { FieldTable } from '../frames/index.js';

/** Keys compared as Erlang compares binaries: by their UTF-8 bytes. */
const byKey = ([a]: [string, unknown], [b]: [string, unknown]): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** args itself when its keys are in order already (nearly always: none, or one), else a sorted copy. */
export function sortedArguments(args: FieldTable): FieldTable {
  if (args.size < 2) return args;
  let prev: [string, unknown] | undefined;
  for (const entry of args) {
    if (prev && byKey(prev, entry) > 0) return new Map([...args].sort(byKey));
    prev = entry;
  }
  return args;
}
