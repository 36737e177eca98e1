// A vhost's runtime parameters of the components plugins register (RabbitMQ's
// rabbit_runtime_parameters): a shovel is the parameter shovel/<vhost>/<name>. The broker keeps and
// stores them; the component that registered its name checks each value and acts on it (starts,
// changes or stops the shovel). Parameters of a component nobody registered are kept as stored, so
// a broker started without that plugin loses nothing. Operator policies and vhost limits, which
// RabbitMQ also keeps as runtime parameters, have their own homes (policies.ts, limits.ts).
import type { JsonValue, Store, StoredParameter } from '../store/store.js';

export interface ParameterComponent {
  readonly name: string;
  /** What is wrong with a value set by user, one line each in RabbitMQ's words; empty when nothing is. */
  validate(vhost: string, name: string, value: JsonValue, user: string): string[];
  /** A value was set (or restored at start, or registered after it): act on it. */
  set(vhost: string, name: string, value: JsonValue): void;
  cleared(vhost: string, name: string): void;
  /** What each parameter's worker is doing (a shovel's state), for the management API and ctl. */
  status?(): ParameterStatus[];
  /** Starts a worker again; false when there is none of that name. */
  restart?(vhost: string, name: string): boolean;
}

/** A worker's state: its parameter, since when it is in that state, and what it reports. */
export interface ParameterStatus {
  vhost: string;
  name: string;
  state: string;
  since: Date;
  /** Fields shown while running (a shovel's URIs, queues and exchanges), in display order. */
  details: [string, string][];
}

/** A value its component refused: the lines say why. */
export class ParameterError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const key = (vhost: string, component: string, name: string): string => `${vhost}\0${component}\0${name}`;

/** A value with its objects' keys in order, at every level: RabbitMQ keeps a parameter as a map and shows it so. */
function sortedKeys(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: { [k: string]: JsonValue } = {};
  for (const k of Object.keys(v).sort()) out[k] = sortedKeys(v[k]!);
  return out;
}

export class RuntimeParameters {
  private readonly values = new Map<string, StoredParameter>();
  private readonly components = new Map<string, ParameterComponent>();

  constructor(private readonly store: Store) {}

  /** Takes the store's parameters at start, before any component registers. */
  restore(stored: readonly StoredParameter[]): void {
    for (const p of stored) this.values.set(key(p.vhost, p.component, p.name), p);
  }

  /** A plugin's component: it gets every value already kept for it. */
  register(c: ParameterComponent): void {
    this.components.set(c.name, c);
    for (const p of this.values.values()) if (p.component === c.name) c.set(p.vhost, p.name, p.value);
  }

  component(name: string): ParameterComponent | undefined {
    return this.components.get(name);
  }

  get(component: string, vhost: string, name: string): StoredParameter | undefined {
    return this.values.get(key(vhost, component, name));
  }

  /** Every parameter, or a component's, or a component's in one vhost; by vhost, then name. */
  list(component?: string, vhost?: string): StoredParameter[] {
    const out = [...this.values.values()].filter((p) => (component === undefined || p.component === component) && (vhost === undefined || p.vhost === vhost));
    return out.sort((a, b) => (a.vhost < b.vhost ? -1 : a.vhost > b.vhost ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Sets a parameter of a registered component (throws ParameterError when it refuses the value).
   * persist false: a value another node of a cluster set (already stored). True when it is new.
   */
  set(component: string, vhost: string, name: string, value: JsonValue, persist = true, user = ''): boolean {
    const c = this.components.get(component);
    if (persist) {
      if (!c) throw new ParameterError([`component ${component} not found`]);
      const problems = c.validate(vhost, name, value, user);
      if (problems.length > 0) throw new ParameterError(problems);
    }
    const k = key(vhost, component, name);
    const isNew = !this.values.has(k);
    const p: StoredParameter = { vhost, component, name, value: sortedKeys(value) };
    this.values.set(k, p);
    if (persist) this.store.putDefinition('parameter', k, p);
    c?.set(vhost, name, p.value);
    return isNew;
  }

  /** False when there was none. */
  clear(component: string, vhost: string, name: string, persist = true): boolean {
    const k = key(vhost, component, name);
    if (!this.values.delete(k)) return false;
    if (persist) this.store.deleteDefinition('parameter', k);
    this.components.get(component)?.cleared(vhost, name);
    return true;
  }

  /** A vhost is deleted: its parameters go with it. */
  dropVHost(vhost: string): void {
    for (const p of [...this.values.values()]) if (p.vhost === vhost) this.clear(p.component, p.vhost, p.name);
  }
}
