// What every exchange type shares: its declaration, its bindings (to queues or, by RabbitMQ's
// exchange-to-exchange extension, to other exchanges), and a route() each type implements.
import type { FieldTable } from '../../frames/index.js';
import type { Queue } from '../queue.js';
import { tableIdentity } from '../table-bytes.js';
import type { Policy } from '../policies.js';

export type Destination = Queue | Exchange;

export interface Binding {
  readonly source: Exchange;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  /** Identity within the source: the same destination, key and arguments bind once. */
  readonly id: string;
}

export interface ExchangeSpec {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export abstract class Exchange {
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** Bindings with this exchange as source. */
  readonly bindings = new Map<string, Binding>();
  /** Messages published to it, and copies it routed on to queues (the API's publish_in/publish_out). */
  publishIn = 0;
  publishOut = 0;
  /** Bindings with this exchange as destination (exchange-to-exchange). */
  readonly inbound = new Set<Binding>();
  deleted = false;
  /** The mark of the last route() that visited it (VHost.route). */
  routeMark = 0;
  /** The policy that applies to it (policies.ts), or null; it may give an alternate-exchange. */
  policy: Policy | null = null;

  constructor(spec: ExchangeSpec) {
    this.name = spec.name;
    this.type = spec.type;
    this.durable = spec.durable;
    this.autoDelete = spec.autoDelete;
    this.internal = spec.internal;
    this.arguments = spec.arguments;
  }

  static bindingId(destination: Destination, routingKey: string, args: FieldTable): string {
    const kind = destination instanceof Exchange ? 'e' : 'q';
    return `${kind}\0${destination.name}\0${routingKey}\0${tableIdentity(args)}`;
  }

  /** Adds a binding; false when an identical one exists already. */
  bind(b: Binding): boolean {
    if (this.bindings.has(b.id)) return false;
    this.bindings.set(b.id, b);
    this.addRoute(b);
    return true;
  }

  unbind(id: string): Binding | undefined {
    const b = this.bindings.get(id);
    if (!b) return undefined;
    this.bindings.delete(id);
    this.removeRoute(b);
    return b;
  }

  protected abstract addRoute(b: Binding): void;
  protected abstract removeRoute(b: Binding): void;

  /** Adds the destinations a message with this routing key and these headers goes to. */
  abstract route(routingKey: string, headers: FieldTable | undefined, out: Destination[]): void;
}
