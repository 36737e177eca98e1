// Users, their passwords (salted SHA-256, as RabbitMQ's rabbit_password_hashing_sha256 stores them,
// so hashes exported from RabbitMQ import unchanged) and their permissions per vhost: configure,
// write and read, each a regular expression matched against resource names.
import { Buffer } from 'node:buffer';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { definitionId, type Store, type StoredPermission, type StoredTopicPermission, type StoredUser } from '../store/store.js';
import { BrokerEvents } from './events.js';

export type PermissionKind = 'configure' | 'write' | 'read';

export function hashPassword(password: string, salt = randomBytes(4)): string {
  const digest = createHash('sha256').update(Buffer.concat([salt, Buffer.from(password, 'utf8')])).digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export function checkPassword(password: string, passwordHash: string): boolean {
  const stored = Buffer.from(passwordHash, 'base64');
  if (stored.length !== 36) return false;
  const again = Buffer.from(hashPassword(password, stored.subarray(0, 4)), 'base64');
  return timingSafeEqual(stored, again);
}

interface CompiledPermission extends StoredPermission {
  regex: Record<PermissionKind, RegExp | null>;
}

/** '' grants nothing (RabbitMQ's convention); anything else is an unanchored regular expression. */
const compile = (p: StoredPermission): CompiledPermission => ({
  ...p,
  regex: {
    configure: p.configure === '' ? null : new RegExp(p.configure),
    write: p.write === '' ? null : new RegExp(p.write),
    read: p.read === '' ? null : new RegExp(p.read),
  },
});

interface CompiledTopicPermission extends StoredTopicPermission {
  regex: { write: RegExp; read: RegExp };
}

/**
 * As rabbit_auth_backend_internal reads a topic permission: {username} and {vhost} in the pattern
 * stand for the user's and the vhost's names (known when it is set, so compiled once), and ''
 * allows only the empty routing key.
 */
function compileTopic(p: StoredTopicPermission): CompiledTopicPermission {
  const expand = (re: string): RegExp => new RegExp(re === '' ? '^$' : re.replaceAll('{username}', p.user).replaceAll('{vhost}', p.vhost));
  return { ...p, regex: { write: expand(p.write), read: expand(p.read) } };
}

export class AccessControl {
  readonly users = new Map<string, StoredUser>();
  /** vhost → user → permission */
  private readonly permissions = new Map<string, Map<string, CompiledPermission>>();
  /** vhost → user → exchange → topic permission. */
  private readonly topic = new Map<string, Map<string, Map<string, CompiledTopicPermission>>>();
  /** Whether any topic permission exists: publishes skip the lookup while none does. */
  topicRestricted = false;

  constructor(
    private readonly store: Store,
    /** Where user and permission changes are told (the broker's). */
    private readonly events: BrokerEvents = new BrokerEvents(),
  ) {}

  restore(users: StoredUser[], permissions: StoredPermission[], topicPermissions: StoredTopicPermission[] = []): void {
    for (const u of users) this.users.set(u.name, u);
    for (const p of permissions) this.setPermissions(p, false);
    for (const p of topicPermissions) this.setTopicPermission(p, false);
  }

  authenticate(name: string, password: string): StoredUser | null {
    const u = this.users.get(name);
    return u && checkPassword(password, u.passwordHash) ? u : null;
  }

  putUser(name: string, password: string | null, tags: string[], passwordHash?: string): StoredUser {
    const existed = this.users.has(name);
    const u: StoredUser = { name, passwordHash: passwordHash ?? (password === null ? '' : hashPassword(password)), tags };
    this.users.set(name, u);
    this.store.putDefinition('user', definitionId.user(name), u);
    // As 3.10.8 tells them: created, or the password changed; then the tags, if there are any.
    const ev = this.events;
    if (!existed) ev.emit('user.created', () => [['user_who_performed_action', ev.who], ['name', name]]);
    else if (password !== null || passwordHash !== undefined) ev.emit('user.password.changed', () => [['user_who_performed_action', ev.who], ['name', name]]);
    if (tags.length > 0) ev.emit('user.tags.set', () => [['user_who_performed_action', ev.who], ['tags', tags], ['name', name]]);
    return u;
  }

  deleteUser(name: string): boolean {
    if (!this.users.delete(name)) return false;
    this.store.deleteDefinition('user', definitionId.user(name));
    this.events.emit('user.deleted', () => [['user_who_performed_action', this.events.who], ['name', name]]);
    // Its permissions go without a permission.deleted each (3.10.8 tells only of the user).
    for (const [vhost, perms] of this.permissions) if (perms.has(name)) this.clearPermissions(name, vhost, false);
    for (const vhost of [...this.topic.keys()]) this.clearTopicPermissions(name, vhost);
    return true;
  }

  setPermissions(p: StoredPermission, persist = true): void {
    let perms = this.permissions.get(p.vhost);
    if (!perms) this.permissions.set(p.vhost, (perms = new Map()));
    perms.set(p.user, compile(p));
    if (!persist) return;
    this.store.putDefinition('permission', definitionId.permission(p.user, p.vhost), p);
    const ev = this.events;
    ev.emit('permission.created', () => [
      ['user_who_performed_action', ev.who],
      ['read', p.read],
      ['write', p.write],
      ['configure', p.configure],
      ['vhost', p.vhost],
      ['user', p.user],
    ]);
  }

  clearPermissions(user: string, vhost: string, tell = true): boolean {
    const removed = this.permissions.get(vhost)?.delete(user) ?? false;
    if (removed) this.store.deleteDefinition('permission', definitionId.permission(user, vhost));
    if (removed && tell) this.events.emit('permission.deleted', () => [['user_who_performed_action', this.events.who], ['vhost', vhost], ['user', user]]);
    return removed;
  }

  /** Forgets every permission on a vhost that is being deleted. */
  dropVHost(vhost: string): void {
    for (const user of [...(this.permissions.get(vhost)?.keys() ?? [])]) this.clearPermissions(user, vhost);
    this.permissions.delete(vhost);
    for (const user of [...(this.topic.get(vhost)?.keys() ?? [])]) this.clearTopicPermissions(user, vhost);
  }

  /** Throws (a SyntaxError) for a pattern that is no regular expression, before anything is kept. */
  setTopicPermission(p: StoredTopicPermission, persist = true): void {
    const compiled = compileTopic(p);
    let users = this.topic.get(p.vhost);
    if (!users) this.topic.set(p.vhost, (users = new Map()));
    let exchanges = users.get(p.user);
    if (!exchanges) users.set(p.user, (exchanges = new Map()));
    exchanges.set(p.exchange, compiled);
    this.topicRestricted = true;
    if (persist) this.store.putDefinition('topicPermission', definitionId.topicPermission(p.user, p.vhost, p.exchange), p);
  }

  /** Clears the user's topic permissions in the vhost: on one exchange, or on all; how many went. */
  clearTopicPermissions(user: string, vhost: string, exchange?: string): number {
    const users = this.topic.get(vhost);
    const exchanges = users?.get(user);
    if (!users || !exchanges) return 0;
    let n = 0;
    for (const x of exchange === undefined ? [...exchanges.keys()] : [exchange]) {
      if (!exchanges.delete(x)) continue;
      n++;
      this.store.deleteDefinition('topicPermission', definitionId.topicPermission(user, vhost, x));
    }
    if (exchanges.size === 0) users.delete(user);
    if (users.size === 0) this.topic.delete(vhost);
    this.topicRestricted = this.topic.size > 0;
    return n;
  }

  listTopicPermissions(): StoredTopicPermission[] {
    const out: StoredTopicPermission[] = [];
    for (const users of this.topic.values()) {
      for (const exchanges of users.values()) for (const { regex: _r, ...p } of exchanges.values()) out.push(p);
    }
    return out;
  }

  /**
   * Whether the user may publish (write) or bind (read) with this routing key on a topic exchange:
   * yes unless a topic permission for that exchange says otherwise (RabbitMQ's topic authorisation).
   */
  permitsTopic(user: string, vhost: string, exchange: string, kind: 'write' | 'read', routingKey: string): boolean {
    const p = this.topic.get(vhost)?.get(user)?.get(exchange);
    return p ? p.regex[kind].test(routingKey) : true;
  }

  listPermissions(): StoredPermission[] {
    const out: StoredPermission[] = [];
    for (const perms of this.permissions.values()) {
      for (const { regex: _r, ...p } of perms.values()) out.push(p);
    }
    return out;
  }

  /** Whether the user may use the vhost at all (has any permission entry there). */
  canAccessVHost(user: string, vhost: string): boolean {
    return this.permissions.get(vhost)?.has(user) ?? false;
  }

  permits(user: string, vhost: string, kind: PermissionKind, resource: string): boolean {
    const re = this.permissions.get(vhost)?.get(user)?.regex[kind];
    return re ? re.test(resource) : false;
  }
}
