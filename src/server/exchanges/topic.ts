// Topic exchange: binding keys are dot-separated words where '*' matches exactly one word and '#'
// zero or more. Bindings live in a trie of words, so routing costs the length of the routing key
// times the wildcard branches met, not the number of bindings.
import type { FieldTable } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

/** The words of a key; the empty key has none (RabbitMQ: '' matches '#' but not '*'). */
const wordsOf = (key: string): string[] => (key === '' ? [] : key.split('.'));

class Node {
  readonly children = new Map<string, Node>();
  readonly bindings = new Set<Binding>();
}

export class TopicExchange extends Exchange {
  private readonly root = new Node();

  protected addRoute(b: Binding): void {
    let node = this.root;
    for (const word of wordsOf(b.routingKey)) {
      let next = node.children.get(word);
      if (!next) node.children.set(word, (next = new Node()));
      node = next;
    }
    node.bindings.add(b);
  }

  protected removeRoute(b: Binding): void {
    const path: Node[] = [this.root];
    const words = wordsOf(b.routingKey);
    for (const word of words) {
      const next = path[path.length - 1]!.children.get(word);
      if (!next) return;
      path.push(next);
    }
    path[path.length - 1]!.bindings.delete(b);
    // Prune nodes left with nothing under them.
    for (let i = words.length; i > 0; i--) {
      const node = path[i]!;
      if (node.bindings.size > 0 || node.children.size > 0) break;
      path[i - 1]!.children.delete(words[i - 1]!);
    }
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    const seen = new Set<Binding>();
    this.match(this.root, wordsOf(routingKey), 0, seen);
    for (const b of seen) out.push(b.destination);
  }

  private match(node: Node, words: string[], i: number, seen: Set<Binding>): void {
    const hash = node.children.get('#');
    if (hash) {
      // '#' takes zero words, or one more word and stays.
      this.match(hash, words, i, seen);
      for (let j = i + 1; j <= words.length; j++) this.match(hash, words, j, seen);
    }
    if (i === words.length) {
      for (const b of node.bindings) seen.add(b);
      return;
    }
    const exact = node.children.get(words[i]!);
    if (exact) this.match(exact, words, i + 1, seen);
    const star = node.children.get('*');
    if (star) this.match(star, words, i + 1, seen);
  }
}
