// The default exchange (''): every queue is bound to it by its own name (spec 3.1.3.1).
import type { FieldTable } from '../../frames/index.js';
import type { Queue } from '../queue.js';
import type { Exchange } from './exchange.js';

export class DefaultExchange implements Exchange {
  readonly name = '';
  readonly type = 'direct';
  readonly durable = true;
  readonly autoDelete = false;
  readonly internal = false;
  readonly arguments: FieldTable = new Map();

  constructor(private readonly queues: ReadonlyMap<string, Queue>) {}

  route(routingKey: string, _headers: FieldTable | undefined, out: Set<Queue>): void {
    const q = this.queues.get(routingKey);
    if (q) out.add(q);
  }
}
