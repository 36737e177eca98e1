// Fanout exchange: a message goes to every binding, whatever its routing key.
import type { FieldTable } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

export class FanoutExchange extends Exchange {
  protected addRoute(_b: Binding): void {}
  protected removeRoute(_b: Binding): void {}

  route(_routingKey: string, _headers: FieldTable | undefined, out: Destination[]): void {
    for (const b of this.bindings.values()) out.push(b.destination);
  }
}
