// Direct exchange: a message goes to the bindings whose key equals its routing key.
import type { FieldTable } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

export class DirectExchange extends Exchange {
  private readonly byKey = new Map<string, Set<Binding>>();

  protected addRoute(b: Binding): void {
    let set = this.byKey.get(b.routingKey);
    if (!set) this.byKey.set(b.routingKey, (set = new Set()));
    set.add(b);
  }

  protected removeRoute(b: Binding): void {
    const set = this.byKey.get(b.routingKey);
    if (!set) return;
    set.delete(b);
    if (set.size === 0) this.byKey.delete(b.routingKey);
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    const set = this.byKey.get(routingKey);
    if (set) for (const b of set) out.push(b.destination);
  }
}
