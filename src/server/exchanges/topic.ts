// Topic exchange: binding keys are dot-separated words where '*' matches exactly one word and '#'
// zero or more. Bindings live in a trie of words, so routing costs the length of the routing key
// times the wildcard branches met, not the number of bindings.
//
// The trie is a burst trie: a branch that holds few bindings is not a chain of nodes but the
// bindings themselves, whose remaining words are matched from their own routing key (matchFrom).
// A branch becomes a node when it holds more than BURST bindings. With a million bindings of
// mostly distinct keys, a node (and its Map) per word of every key was most of the broker's
// memory and most of its garbage collector's work; a binding now costs one Map entry here.
import type { FieldTable } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

/** The words of a key; the empty key has none (RabbitMQ: '' matches '#' but not '*'). */
const wordsOf = (key: string): string[] => (key === '' ? [] : key.split('.'));

/** A branch of the trie: a node, or the few bindings under it (matched from their own keys). */
type Branch = Node | Binding | Binding[];
/** Past this many bindings, a branch becomes a node. */
const BURST = 8;

const HASH = 35; // '#'
const STAR = 42; // '*'

class Node {
  /** Branches by the next word of their keys ('*' and '#' included); null while there are none. */
  children: Map<string, Branch> | null = null;
  /** Bindings whose keys end here. */
  bindings: Binding[] | null = null;
}

/** Where word `n` of key starts (key has more than n words). */
function wordStart(key: string, n: number): number {
  let pos = 0;
  for (let k = 0; k < n; k++) pos = key.indexOf('.', pos) + 1;
  return pos;
}

/**
 * Whether the binding key's words from the one at char `pos` on match words[i..]. pos past the end
 * of the key means no words are left.
 */
function matchFrom(key: string, pos: number, words: string[], i: number): boolean {
  for (;;) {
    if (pos > key.length) return i === words.length;
    let end = key.indexOf('.', pos);
    if (end < 0) end = key.length;
    const len = end - pos;
    if (len === 1 && key.charCodeAt(pos) === HASH) {
      // '#' takes zero words, or one more and stays
      for (let j = i; j <= words.length; j++) if (matchFrom(key, end + 1, words, j)) return true;
      return false;
    }
    if (i === words.length) return false;
    if (!(len === 1 && key.charCodeAt(pos) === STAR)) {
      const w = words[i]!;
      if (w.length !== len || !key.startsWith(w, pos)) return false;
    }
    pos = end + 1;
    i++;
  }
}

export class TopicExchange extends Exchange {
  private readonly root = new Node();

  protected addRoute(b: Binding): void {
    this.insert(this.root, b, wordsOf(b.routingKey), 0);
  }

  /** Puts b under node, which sits after b's first `depth` words. */
  private insert(node: Node, b: Binding, words: string[], depth: number): void {
    for (;;) {
      if (depth === words.length) {
        (node.bindings ??= []).push(b);
        return;
      }
      const word = words[depth]!;
      const children = (node.children ??= new Map());
      const branch = children.get(word);
      if (branch === undefined) {
        children.set(word, b);
        return;
      }
      if (branch instanceof Node) {
        node = branch;
        depth++;
        continue;
      }
      const list = Array.isArray(branch) ? branch : [branch];
      if (list.length < BURST) {
        list.push(b);
        if (list !== branch) children.set(word, list);
        return;
      }
      // Burst: the branch becomes a node holding what it held, then b.
      const next = new Node();
      children.set(word, next);
      for (const x of list) this.insert(next, x, wordsOf(x.routingKey), depth + 1);
      node = next;
      depth++;
    }
  }

  protected removeRoute(b: Binding): void {
    const words = wordsOf(b.routingKey);
    const path: Node[] = [this.root];
    let node = this.root;
    let depth = 0;
    for (;;) {
      if (depth === words.length) {
        const list = node.bindings;
        const at = list ? list.indexOf(b) : -1;
        if (at < 0) return;
        list!.splice(at, 1);
        if (list!.length === 0) node.bindings = null;
        break;
      }
      const branch = node.children?.get(words[depth]!);
      if (branch === undefined) return;
      if (branch instanceof Node) {
        node = branch;
        path.push(node);
        depth++;
        continue;
      }
      if (branch === b) node.children!.delete(words[depth]!);
      else if (Array.isArray(branch)) {
        const at = branch.indexOf(b);
        if (at < 0) return;
        branch.splice(at, 1);
        if (branch.length === 1) node.children!.set(words[depth]!, branch[0]!);
      } else return;
      if (node.children!.size === 0) node.children = null;
      break;
    }
    // Prune nodes left with nothing under them.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if (n.bindings !== null || n.children !== null) break;
      const parent = path[i - 1]!;
      parent.children!.delete(words[i - 1]!);
      if (parent.children!.size === 0) parent.children = null;
    }
  }

  /** The mark of the route() under way: a binding reached along a second path is taken once. */
  private mark = 0;

  /** Adds the destination of every matching binding, once per binding. */
  route(routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    this.mark = (this.mark + 1) | 0 || 1;
    this.match(this.root, wordsOf(routingKey), 0, 0, out);
  }

  private take(b: Binding, out: Destination[]): void {
    if (b.routeMark === this.mark) return;
    b.routeMark = this.mark;
    out.push(b.destination);
  }

  /** node sits after `depth` binding-key words, which matched words[0..i). */
  private match(node: Node, words: string[], i: number, depth: number, out: Destination[]): void {
    const children = node.children;
    if (children !== null) {
      const hash = children.get('#');
      if (hash !== undefined) {
        if (hash instanceof Node) {
          // '#' takes zero words, or one more word and stays.
          for (let j = i; j <= words.length; j++) this.match(hash, words, j, depth + 1, out);
        } else this.matchLeaves(hash, depth, words, i, out);
      }
      if (i < words.length) {
        const exact = children.get(words[i]!);
        if (exact !== undefined) {
          if (exact instanceof Node) this.match(exact, words, i + 1, depth + 1, out);
          else this.matchLeaves(exact, depth, words, i, out);
        }
        const star = children.get('*');
        if (star !== undefined) {
          if (star instanceof Node) this.match(star, words, i + 1, depth + 1, out);
          else this.matchLeaves(star, depth, words, i, out);
        }
      }
    }
    if (i === words.length && node.bindings !== null) for (const b of node.bindings) this.take(b, out);
  }

  /** Bindings of a branch whose key words from `depth` on are still to match words[i..]. */
  private matchLeaves(leaves: Binding | Binding[], depth: number, words: string[], i: number, out: Destination[]): void {
    if (Array.isArray(leaves)) {
      for (const b of leaves) if (b.routeMark !== this.mark && matchFrom(b.routingKey, wordStart(b.routingKey, depth), words, i)) this.take(b, out);
    } else if (leaves.routeMark !== this.mark && matchFrom(leaves.routingKey, wordStart(leaves.routingKey, depth), words, i)) this.take(leaves, out);
  }
}
