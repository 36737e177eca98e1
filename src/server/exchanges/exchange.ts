// What every exchange type shares: its declaration, its bindings (to queues or, by RabbitMQ's
// exchange-to-exchange extension, to other exchanges), and a route() each type implements.
import { AmqpError, FIELD_TYPE_NAMES, ReplyCode, type FieldTable } from '../../frames/index.js';
import type { Message } from '../message.js';
import type { StoredMessage } from '../../store/store.js';
import type { Queue } from '../queue.js';
import { tableIdentity } from '../table-bytes.js';
import type { Policy } from '../policies.js';

export type Destination = Queue | Exchange;

const NONE: readonly Message[] = [];

/** Within its source, a binding is identified by its destination, key and arguments: they bind once. */
export interface Binding {
  readonly source: Exchange;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  /** The mark of the last route() that reached it (a topic key can match along several paths). */
  routeMark: number;
}

/** The arguments of every binding made without any: one shared table, never written to. */
export const NO_ARGUMENTS: FieldTable = new Map();

export const sameArguments = (a: FieldTable, b: FieldTable): boolean =>
  a === b || (a.size === 0 && b.size === 0) || (a.size === b.size && tableIdentity(a) === tableIdentity(b));

/** A destination's bindings in a table: one, a few (scanned), or many (by routing key). */
type ByDestination = Binding | Binding[] | Map<string, Binding | Binding[]>;
/** Past this many bindings to one destination, they are found by key instead of scanned. */
const SCAN_MAX = 8;

const findIn = (v: Binding | Binding[] | undefined, routingKey: string, args: FieldTable): Binding | undefined => {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return v.routingKey === routingKey && sameArguments(v.arguments, args) ? v : undefined;
  for (const b of v) if (b.routingKey === routingKey && sameArguments(b.arguments, args)) return b;
  return undefined;
};

/**
 * The bindings of one source exchange, in the order they were made (what the management API and
 * fanout routing iterate), found by destination, routing key and arguments. A binding costs an
 * entry in an ordered Set and one in a per-destination index, and no identity string: with a
 * million bindings on an exchange, strings naming each one were about a tenth of the broker.
 */
export type BindingFinder = (destination: Destination, routingKey: string, args: FieldTable) => Binding | undefined;

export class BindingTable {
  private readonly all = new Set<Binding>();
  private readonly byDest = new Map<Destination, ByDestination>();

  /**
   * finder: how the exchange's own routes find a binding (the topic trie does, by its key), in
   * place of this table's index by destination, which then stays empty.
   */
  constructor(private readonly finder: BindingFinder | null = null) {}

  get size(): number {
    return this.all.size;
  }

  values(): IterableIterator<Binding> {
    return this.all.values();
  }

  get(destination: Destination, routingKey: string, args: FieldTable): Binding | undefined {
    if (this.finder) return this.finder(destination, routingKey, args);
    const v = this.byDest.get(destination);
    return v instanceof Map ? findIn(v.get(routingKey), routingKey, args) : findIn(v, routingKey, args);
  }

  /** Adds b; false when one of the same destination, key and arguments is there already. */
  add(b: Binding): boolean {
    if (this.finder) {
      if (this.finder(b.destination, b.routingKey, b.arguments)) return false;
      this.all.add(b);
      return true;
    }
    const d = b.destination;
    const v = this.byDest.get(d);
    if (v === undefined) this.byDest.set(d, b);
    else if (v instanceof Map) {
      const k = v.get(b.routingKey);
      if (findIn(k, b.routingKey, b.arguments)) return false;
      v.set(b.routingKey, k === undefined ? b : Array.isArray(k) ? [...k, b] : [k, b]);
    } else {
      if (findIn(v, b.routingKey, b.arguments)) return false;
      const list = Array.isArray(v) ? v : [v];
      if (list.length < SCAN_MAX) this.byDest.set(d, [...list, b]);
      else {
        const m = new Map<string, Binding | Binding[]>();
        for (const x of [...list, b]) {
          const k = m.get(x.routingKey);
          m.set(x.routingKey, k === undefined ? x : Array.isArray(k) ? [...k, x] : [k, x]);
        }
        this.byDest.set(d, m);
      }
    }
    this.all.add(b);
    return true;
  }

  /** Adds b, known to be new: the finder's exchange has checked it while adding its route. */
  addNew(b: Binding): void {
    this.all.add(b);
  }

  delete(b: Binding): boolean {
    if (!this.all.delete(b)) return false;
    if (this.finder) return true;
    const d = b.destination;
    const v = this.byDest.get(d);
    const without = (x: Binding | Binding[] | undefined): Binding | Binding[] | undefined => {
      if (x === undefined || x === b) return undefined;
      if (!Array.isArray(x)) return x;
      const rest = x.filter((y) => y !== b);
      return rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest;
    };
    if (v instanceof Map) {
      const k = without(v.get(b.routingKey));
      if (k === undefined) v.delete(b.routingKey);
      else v.set(b.routingKey, k);
      if (v.size === 0) this.byDest.delete(d);
    } else {
      const rest = without(v);
      if (rest === undefined) this.byDest.delete(d);
      else this.byDest.set(d, rest);
    }
    return true;
  }
}

/**
 * What an exchange that acts on its own (a delayed-message exchange releasing what it held) needs
 * of its vhost: the store, a message seq, and a way to publish.
 */
export interface ExchangeHost {
  readonly name: string;
  nextSeq(): number;
  readonly store: {
    putDeadLetter(vhost: string, queue: string, m: StoredMessage): void;
    deleteDeadLetter(vhost: string, queue: string, seq: number): void;
    readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]>;
  };
  /** Routes msg from exchange now, as a publish would (its publisher long answered), with its CC and BCC keys. */
  publishDue(exchange: Exchange, msg: Message, extraKeys?: string[]): void;
  /** The publish being routed put a message in the store: its confirm waits for the store. */
  heldDurably(): void;
}

/** RabbitMQ's name for the broker itself as the actor (standard exchanges, definitions loaded at boot). */
export const INTERNAL_USER = 'rmq-internal';

export interface ExchangeSpec {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
  /** Who declared it (the management API's user_who_performed_action); RabbitMQ's 'rmq-internal' when absent. */
  user?: string | undefined;
}

export abstract class Exchange {
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** Who declared it: the user of the connection, of the API call or of the definitions import. */
  readonly user: string;
  /** Bindings with this exchange as source. */
  readonly bindings: BindingTable;
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
  /** Its route() looks at the message's headers (so the vhost decodes them while it has bindings). */
  readonly readsHeaders: boolean = false;

  constructor(spec: ExchangeSpec) {
    this.name = spec.name;
    this.type = spec.type;
    this.durable = spec.durable;
    this.autoDelete = spec.autoDelete;
    this.internal = spec.internal;
    this.user = spec.user ?? INTERNAL_USER;
    this.arguments = spec.arguments;
    this.bindings = new BindingTable(this.ownFinder());
  }

  /**
   * How this type's routes find a binding by destination, key and arguments, when they can (called
   * from the constructor: the finder may read the subclass's fields only when it is called); null
   * leaves it to the binding table's own index.
   */
  protected ownFinder(): BindingFinder | null {
    return null;
  }

  /** Adds a binding; false when an identical one exists already. */
  bind(b: Binding): boolean {
    if (!this.bindings.add(b)) return false;
    this.addRoute(b);
    return true;
  }

  /** Removes a binding; false when it was not there. */
  unbind(b: Binding): boolean {
    if (!this.bindings.delete(b)) return false;
    this.removeRoute(b);
    return true;
  }

  protected abstract addRoute(b: Binding): void;
  protected abstract removeRoute(b: Binding): void;

  /** Adds the destinations a message with this routing key and these headers goes to. */
  /**
   * msg: the message routed (absent for a dead letter, a trace, a test of routing), for the types
   * that look past its key and headers (consistent-hash on a property) or keep it (recent-history).
   * extra: the key is one of the message's CC or BCC keys, routed after its own; RabbitMQ hands
   * every exchange the list of keys, and a consistent-hash exchange hashes only the first.
   */
  abstract route(routingKey: string, headers: FieldTable | undefined, out: Destination[], msg?: Message, extra?: boolean): void;

  /** It joins its vhost (recovered: from the store at a start); most types need nothing of it. */
  attach(_host: ExchangeHost, _recovered: boolean): void {}

  /** It is deleted: what it holds goes. */
  detach(): void {}

  /**
   * Messages a new binding b is to receive at once, in order (a recent-history exchange's); none
   * for the other types.
   */
  replayFor(_b: Binding): readonly Message[] {
    return NONE;
  }
}

/**
 * A new exchange's alternate-exchange must be a string: rabbit_channel refuses any other type, in
 * its own words, before the exchange is made (the management API answers the same text in a 400).
 */
export function checkAlternateExchangeArg(name: string, vhost: string, args: FieldTable): void {
  const ae = args.get('alternate-exchange');
  if (ae !== undefined && ae.type !== 'S') {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid type '${FIELD_TYPE_NAMES[ae.type]}' for arg 'alternate-exchange' in exchange '${name}' in vhost '${vhost}'`, 'channel');
  }
}
