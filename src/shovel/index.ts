// Dynamic shovels (RabbitMQ's rabbitmq_shovel, AMQP 0-9-1): the runtime parameter component
// 'shovel', composed onto the broker by the entry as a plugin. Each parameter shovel/<vhost>/<name>
// runs one worker (shovel.ts) while it exists; deleting it stops the worker. In a cluster every
// node keeps every shovel's definition (the shared topology) and only the running node whose name
// sorts first runs the workers, so each shovel runs once; when that node goes, the next one starts
// them (checked every two seconds).
import type { Broker } from '../server/broker.js';
import type { BrokerPlugin, RunningPlugin } from '../server/plugin.js';
import { runsSingletons } from '../server/cluster-view.js';
import type { ParameterComponent, ParameterStatus } from '../server/runtime-parameters.js';
import type { JsonValue } from '../store/store.js';
import { parseShovel, validateShovel } from './definition.js';
import { Shovel } from './shovel.js';
import { parseAmqpUri, withoutCredentials } from '../client/uri.js';

export const SHOVEL_COMPONENT = 'shovel';
const PLACEMENT_CHECK_MS = 2000;

const key = (vhost: string, name: string): string => `${vhost}\0${name}`;

class ShovelComponent implements ParameterComponent {
  readonly name = SHOVEL_COMPONENT;
  private readonly definitions = new Map<string, { vhost: string; name: string; value: { [k: string]: JsonValue } }>();
  private readonly workers = new Map<string, Shovel>();
  running = false;

  constructor(private readonly broker: Broker) {}

  validate(vhost: string, name: string, value: JsonValue, user: string): string[] {
    const problems = validateShovel(name, value);
    if (problems.length > 0 || typeof value !== 'object' || value === null || Array.isArray(value)) return problems;
    // A direct URI's vhost must exist and be open to the user setting the shovel (as 3.10.8 checks
    // it). A definitions import (no user) is not checked: its vhosts are made before its parameters.
    if (user === '') return [];
    for (const k of ['src-uri', 'dest-uri']) {
      const v = value[k]!;
      for (const text of Array.isArray(v) ? v : [v]) {
        const uri = parseAmqpUri(String(text));
        const target = uri.vhost ?? vhost;
        if (uri.direct && (!this.broker.vhosts.has(target) || !this.broker.access.canAccessVHost(user, target))) {
          return [`user "${user}" may not connect to vhost "${target}"`];
        }
      }
    }
    return [];
  }

  set(vhost: string, name: string, value: JsonValue): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
    this.definitions.set(key(vhost, name), { vhost, name, value });
    void this.workers.get(key(vhost, name))?.stop();
    this.workers.delete(key(vhost, name));
    this.reconcile();
  }

  cleared(vhost: string, name: string): void {
    this.definitions.delete(key(vhost, name));
    void this.workers.get(key(vhost, name))?.stop();
    this.workers.delete(key(vhost, name));
  }

  status(): ParameterStatus[] {
    const out: ParameterStatus[] = [];
    for (const w of this.workers.values()) {
      const d = w.def;
      const details: [string, string][] = [];
      if (w.status === 'running' && w.srcUri && w.destUri) {
        details.push(['src_uri', withoutCredentials(w.srcUri.text)], ['src_protocol', 'amqp091'], ['dest_protocol', 'amqp091'], ['dest_uri', withoutCredentials(w.destUri.text)]);
        if (d.srcQueue !== null) details.push(['src_queue', d.srcQueue]);
        else details.push(['src_exchange', d.srcExchange ?? ''], ['src_exchange_key', d.srcExchangeKey]);
        if (d.destQueue !== null) details.push(['dest_queue', d.destQueue]);
        else {
          if (d.destExchange !== null) details.push(['dest_exchange', d.destExchange]);
          if (d.destExchangeKey !== null) details.push(['dest_exchange_key', d.destExchangeKey]);
        }
      }
      out.push({ vhost: w.vhost, name: w.name, state: w.status, since: w.since, details });
    }
    return out.sort((a, b) => (a.vhost < b.vhost ? -1 : a.vhost > b.vhost ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  restart(vhost: string, name: string): boolean {
    const w = this.workers.get(key(vhost, name));
    w?.restart();
    return w !== undefined;
  }

  /** Starts the workers this node should run and stops the others. */
  reconcile(): void {
    const here = this.running && runsSingletons(this.broker.cluster);
    for (const [k, d] of this.definitions) {
      if (!here || this.workers.has(k)) continue;
      const def = parseShovel(d.value);
      this.workers.set(k, new Shovel(d.vhost, d.name, def, this.broker, () => this.broker.parameters.clear(SHOVEL_COMPONENT, d.vhost, d.name)));
    }
    if (!here) for (const w of this.workers.values()) void w.stop();
    if (!here) this.workers.clear();
  }

  /** At shutdown: every worker stopped, each having waited for its destination's confirms. */
  async stopAll(): Promise<void> {
    this.running = false;
    const workers = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** The shovel plugin: registers the component before the listeners open, runs the workers once they are. */
export function shovelPlugin(): BrokerPlugin {
  let component: ShovelComponent | null = null;
  return {
    async beforeListen(broker: Broker): Promise<void> {
      component = new ShovelComponent(broker);
      broker.parameters.register(component);
    },
    async start(broker: Broker): Promise<RunningPlugin> {
      const c = component ?? new ShovelComponent(broker);
      if (!component) broker.parameters.register(c);
      c.running = true;
      c.reconcile();
      const timer = broker.cluster ? setInterval(() => c.reconcile(), PLACEMENT_CHECK_MS) : null;
      timer?.unref();
      return {
        listeners: [],
        close: async () => {
          if (timer) clearInterval(timer);
          await c.stopAll();
        },
      };
    },
  };
}
