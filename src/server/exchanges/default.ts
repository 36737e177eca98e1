// The default exchange (''): every queue is bound to it by its own name (spec 3.1.3.1), and it
// takes no other bindings.
import { toFieldTable, type FieldTable } from '../../frames/index.js';
import type { Queue } from '../queue.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

export class DefaultExchange extends Exchange {
  constructor(private readonly queues: ReadonlyMap<string, Queue>) {
    super({ name: '', type: 'direct', durable: true, autoDelete: false, internal: false, arguments: toFieldTable({}) });
  }

  protected addRoute(_b: Binding): void {}
  protected removeRoute(_b: Binding): void {}

  route(routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    const q = this.queues.get(routingKey);
    if (q) out.push(q);
  }
}
