// Who may see and do what through the management API, as RabbitMQ 3.10's management plugin decides
// it from the user's tags and vhost permissions:
// - administrator: everything; lists show every vhost, but acting on a vhost's queues, exchanges
//   and bindings still needs permissions there, as over AMQP.
// - monitoring: every vhost in /api/vhosts, every connection, channel and consumer, and global
//   totals in /api/overview; queues, exchanges and bindings only in vhosts it has permissions for.
// - policymaker: also sets and clears policies in the vhosts it has permissions for.
// - management, policymaker: only vhosts it has permissions for, and only its own connections.
// - any of them: AMQP-level actions (declare, delete, purge, get, publish, bind) check the same
//   configure/write/read permissions as the AMQP methods; users, permissions and definitions are
//   for administrators only.
import type { Broker } from '../server/broker.js';
import type { Connection } from '../server/connection.js';
import type { PermissionKind } from '../server/access.js';
import type { StoredUser } from '../store/store.js';
import { HttpError } from './http-errors.js';

const MANAGEMENT_TAGS = ['administrator', 'monitoring', 'management', 'policymaker'];

const notAuthorised = (reason: string): HttpError => new HttpError(401, 'not_authorised', reason);

/** RabbitMQ's answer to a user whose tags give no access to the management API at all. */
export const notManagementUser = (): HttpError => notAuthorised('Not management user');

export const isManagementUser = (u: StoredUser): boolean => u.tags.some((t) => MANAGEMENT_TAGS.includes(t));

export class ApiAuthz {
  readonly isAdmin: boolean;
  /** Sees every vhost's name, every connection and global totals. */
  readonly isMonitor: boolean;

  constructor(
    private readonly broker: Broker,
    readonly user: StoredUser,
  ) {
    this.isAdmin = user.tags.includes('administrator');
    this.isMonitor = this.isAdmin || user.tags.includes('monitoring');
  }

  requireAdmin(): void {
    if (!this.isAdmin) throw notAuthorised('Not administrator user');
  }

  requireMonitor(): void {
    if (!this.isMonitor) throw notAuthorised('Not monitor user');
  }

  /** The user has a permission entry in the vhost (may log in to it over AMQP). */
  private hasAccess(vhost: string): boolean {
    return this.broker.access.canAccessVHost(this.user.name, vhost);
  }

  /** Whether lists of queues, exchanges and bindings show the vhost's objects. */
  seesObjectsIn(vhost: string): boolean {
    return this.isAdmin || this.hasAccess(vhost);
  }

  /** Whether /api/vhosts lists the vhost. */
  listsVHost(vhost: string): boolean {
    return this.isMonitor || this.hasAccess(vhost);
  }

  /** Reading one object in a vhost. */
  readIn(vhost: string): void {
    if (!this.seesObjectsIn(vhost)) throw notAuthorised('User not authorised to access virtual host');
  }

  /** Any AMQP-level action in a vhost: administrators too need permissions there. */
  actIn(vhost: string): void {
    this.readIn(vhost);
    if (!this.hasAccess(vhost)) throw notAuthorised('Access refused.');
  }

  /**
   * Setting and clearing policies (RabbitMQ 3.10): administrators in any vhost, policymakers in
   * vhosts they have permissions in; anyone else, 401.
   */
  changePolicyIn(vhost: string): void {
    if (this.isAdmin) return;
    if (!this.user.tags.includes('policymaker') || !this.hasAccess(vhost)) throw notAuthorised('User not authorised to access object');
  }

  permits(vhost: string, kind: PermissionKind, resource: string): boolean {
    return this.broker.access.permits(this.user.name, vhost, kind, resource);
  }

  /** Declare, delete, purge and bind answer a missing permission with this plain 401. */
  require(vhost: string, kind: PermissionKind, resource: string): void {
    if (!this.permits(vhost, kind, resource)) throw notAuthorised('Access refused.');
  }

  /** The text AMQP's 403 ACCESS_REFUSED carries, which /get and /publish pass on. */
  accessRefusedText(vhost: string, type: 'queue' | 'exchange', resource: string): string {
    return `ACCESS_REFUSED - access to ${type} '${resource}' in vhost '${vhost}' refused for user '${this.user.name}'`;
  }

  /** Connections (and their channels and consumers) a user sees: monitors see all, others their own. */
  seesConnection(c: Connection): boolean {
    return this.isMonitor || c.user === this.user.name;
  }

  /** Reading one connection by name. */
  readConnection(c: Connection): void {
    if (!this.seesConnection(c)) throw notAuthorised('User not authorised to access object');
  }

  /** Closing a connection: administrators any, everyone else only their own. */
  closeConnection(c: Connection): void {
    if (!this.isAdmin && c.user !== this.user.name) throw notAuthorised('User not authorised to access object');
  }
}
