// A ring-buffer double-ended queue: O(1) push, shift and unshift however long a queue grows
// (Array.prototype.shift is O(n) on large arrays).

export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(capacity = 16) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(v: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) % this.items.length] = v;
    this.size++;
  }

  unshift(v: T): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1 + this.items.length) % this.items.length;
    this.items[this.head] = v;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return v;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  at(i: number): T | undefined {
    return i < 0 || i >= this.size ? undefined : this.items[(this.head + i) % this.items.length];
  }

  clear(): T[] {
    const all = this.toArray();
    this.items = new Array<T | undefined>(16);
    this.head = 0;
    this.size = 0;
    return all;
  }

  toArray(): T[] {
    const out: T[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items[(this.head + i) % this.items.length]!;
    return out;
  }

  private grow(): void {
    const next = this.toArray() as (T | undefined)[];
    next.length = Math.max(16, this.items.length * 2);
    this.items = next;
    this.head = 0;
  }
}
