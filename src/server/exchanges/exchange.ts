// What every exchange type provides: routing a message to the set of queues it should reach.
import type { FieldTable } from '../../frames/index.js';
import type { Queue } from '../queue.js';

export interface Exchange {
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** Adds each destination queue to out (a set, so a queue reached twice gets one copy). */
  route(routingKey: string, headers: FieldTable | undefined, out: Set<Queue>): void;
}
