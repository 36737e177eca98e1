// Vhost limits (max-connections, max-queues) and user limits (max-connections, max-channels), as
// RabbitMQ 3.10 sets and enforces them, with its reply codes and texts. Kept in the store as
// 'limits' definitions, so they survive a restart and, in a cluster, reach every node.
import { AmqpError, ReplyCode } from '../frames/index.js';
import { definitionId, type Store, type StoredLimits } from '../store/store.js';

export type LimitScope = 'vhost' | 'user';
export type LimitValues = { [limit: string]: number };

export const VHOST_LIMITS = ['max-connections', 'max-queues'];
export const USER_LIMITS = ['max-connections', 'max-channels'];

/** The limit names a scope knows (RabbitMQ 3.10.8 refuses others with this text). */
export function checkLimitName(scope: LimitScope, name: string, value: unknown): string | null {
  const known = scope === 'vhost' ? VHOST_LIMITS : USER_LIMITS;
  return known.includes(name) ? null : `Validation failed\n\nUnrecognised terms [{<<"${name}">>,${JSON.stringify(value)}}] in limits\n`;
}

/** A limit's value must be an integer; a negative one means no limit (RabbitMQ's -1). */
export function checkLimitValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

export class Limits {
  readonly vhost = new Map<string, LimitValues>();
  readonly user = new Map<string, LimitValues>();

  constructor(private readonly store: Store) {}

  /** Restores what the store recovered. */
  restore(records: StoredLimits[]): void {
    for (const r of records) this.apply(r);
  }

  /** Applies a record another node wrote (or a recovered one): no write back. */
  apply(r: StoredLimits): void {
    const m = this.map(r.scope);
    if (Object.keys(r.value).length === 0) m.delete(r.name);
    else m.set(r.name, { ...r.value });
  }

  of(scope: LimitScope, name: string): LimitValues {
    return this.map(scope).get(name) ?? {};
  }

  /** Replaces all of a vhost's or user's limits (rabbitmqctl set_vhost_limits, definitions import). */
  setAll(scope: LimitScope, name: string, value: LimitValues, persist = true): void {
    this.apply({ scope, name, value });
    if (persist) this.persist(scope, name);
  }

  set(scope: LimitScope, name: string, limit: string, value: number): void {
    this.setAll(scope, name, { ...this.of(scope, name), [limit]: value });
  }

  /** Clears one limit, or all of them when limit is 'all' (rabbitmqctl clear_*_limits). */
  clear(scope: LimitScope, name: string, limit: string): boolean {
    const cur = this.of(scope, name);
    if (limit === 'all') {
      const had = Object.keys(cur).length > 0;
      this.setAll(scope, name, {});
      return had;
    }
    if (!(limit in cur)) return false;
    const next = { ...cur };
    delete next[limit];
    this.setAll(scope, name, next);
    return true;
  }

  /** Drops a deleted vhost's or user's limits. */
  drop(scope: LimitScope, name: string): void {
    if (this.map(scope).delete(name)) this.store.deleteDefinition('limits', definitionId.limits(scope, name));
  }

  private persist(scope: LimitScope, name: string): void {
    const value = this.map(scope).get(name);
    if (value) this.store.putDefinition('limits', definitionId.limits(scope, name), { scope, name, value });
    else this.store.deleteDefinition('limits', definitionId.limits(scope, name));
  }

  private map(scope: LimitScope): Map<string, LimitValues> {
    return scope === 'vhost' ? this.vhost : this.user;
  }

  private limit(scope: LimitScope, name: string, limit: string): number | null {
    const v = this.map(scope).get(name)?.[limit];
    return v === undefined || v < 0 ? null : v;
  }

  /**
   * connection.open: vhost max-connections, then user max-connections (530, RabbitMQ 3.10.8's
   * texts). The counts are asked for only when such a limit is set: counting walks every connection.
   */
  checkConnection(user: string, vhost: string, openInVHost: () => number, openForUser: () => number): void {
    const v = this.limit('vhost', vhost, 'max-connections');
    if (v !== null && openInVHost() >= v) {
      throw new AmqpError(ReplyCode.NotAllowed, `access to vhost '${vhost}' refused for user '${user}': connection limit (${v}) is reached`, 'connection');
    }
    const u = this.limit('user', user, 'max-connections');
    if (u !== null && openForUser() >= u) {
      throw new AmqpError(ReplyCode.NotAllowed, `connection refused for user '${user}': user connection limit (${u}) is reached`, 'connection');
    }
  }

  /** channel.open: user max-channels, a connection error 530 as in RabbitMQ 3.10.8 (counted only when set). */
  checkChannel(user: string, openForUser: () => number): void {
    const u = this.limit('user', user, 'max-channels');
    if (u !== null && openForUser() >= u) {
      throw new AmqpError(ReplyCode.NotAllowed, `number of channels opened for user '${user}' has reached the maximum allowed user limit of (${u})`, 'connection');
    }
  }

  /** queue.declare of a new queue: vhost max-queues, a channel error 406 as in RabbitMQ 3.10.8. */
  checkQueue(vhost: string, queue: string, queues: number): void {
    const v = this.limit('vhost', vhost, 'max-queues');
    if (v !== null && queues >= v) {
      throw new AmqpError(ReplyCode.PreconditionFailed, `cannot declare queue '${queue}': queue limit in vhost '${vhost}' (${v}) is reached`, 'channel', 50, 10);
    }
  }
}
