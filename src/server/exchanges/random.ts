// RabbitMQ's x-random exchange (the rabbitmq_random_exchange plugin): a message goes to one of the
// exchange's bindings, picked at random, whatever its routing key.
import type { FieldTable } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

export class RandomExchange extends Exchange {
  private readonly destinations: Destination[] = [];

  protected addRoute(b: Binding): void {
    this.destinations.push(b.destination);
  }

  protected removeRoute(b: Binding): void {
    const i = this.destinations.indexOf(b.destination);
    if (i >= 0) this.destinations.splice(i, 1);
  }

  route(_routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    const n = this.destinations.length;
    if (n > 0) out.push(this.destinations[Math.floor(Math.random() * n)]!);
  }
}
