// What happens in the broker, told to whoever listens (the event exchange plugin, src/events/): a
// queue, exchange or binding made or removed, a connection, channel or consumer opened or closed,
// a login. The core names each event and its fields, in RabbitMQ 3.10.8's order, with typed values;
// how they travel is the listener's business. Nothing is built while nobody listens.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FieldTable } from '../frames/index.js';
import { INTERNAL_USER } from './exchanges/exchange.js';

/**
 * A field's value: text, a whole number, a flag, a field table as RabbitMQ prints one (a list of
 * `{<<"key">>,type,value}` terms: arguments, client properties), a list of texts (tags), a table
 * kept as a table (a policy's definition), or a list of whole numbers (an Erlang string).
 */
export type EventValue = string | number | boolean | { terms: FieldTable } | { table: FieldTable } | string[] | { chars: string };

export type EventFields = [string, EventValue][];

export type EventListener = (type: string, fields: EventFields) => void;

export class BrokerEvents {
  private listener: EventListener | null = null;
  /** Who performs what happens now: a channel sets it while it runs a command. */
  private actor = INTERNAL_USER;
  /** An API request's user, across its awaits. */
  private readonly requestActor = new AsyncLocalStorage<string>();

  listen(l: EventListener | null): void {
    this.listener = l;
  }

  get on(): boolean {
    return this.listener !== null;
  }

  /** The user_who_performed_action of the event being told. */
  get who(): string {
    return this.requestActor.getStore() ?? this.actor;
  }

  /** fields is called only when someone listens. */
  emit(type: string, fields: () => EventFields): void {
    if (this.listener) this.listener(type, fields());
  }

  /** Runs fn with user as the one performing what it does (a channel's command). */
  as<T>(user: string, fn: () => T): T {
    const before = this.actor;
    this.actor = user;
    try {
      return fn();
    } finally {
      this.actor = before;
    }
  }

  /** Runs fn, and everything it starts asynchronously (an API request's handling), as user. */
  runAs(user: string, fn: () => void): void {
    this.requestActor.run(user, fn);
  }
}
