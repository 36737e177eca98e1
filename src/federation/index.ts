// Federation (RabbitMQ's rabbitmq_federation), composed onto the broker by the entry as a plugin:
// the runtime parameter components federation-upstream and federation-upstream-set, the policy
// keys that federate exchanges and queues, and the links, one per federated exchange (link.ts) or
// queue (queue-link.ts) and upstream. Once a second the plugin compares the links it runs with what
// the policies, upstreams and sets ask for, and starts, restarts or stops links. In a cluster the
// links run on one node (runsSingletons).
import { createHash } from 'node:crypto';
import type { Broker } from '../server/broker.js';
import { runsSingletons } from '../server/cluster-view.js';
import type { BrokerPlugin, RunningPlugin } from '../server/plugin.js';
import { registerPolicyKeys } from '../server/policies.js';
import type { ParameterComponent, ParameterStatus } from '../server/runtime-parameters.js';
import type { JsonValue } from '../store/store.js';
import { withoutCredentials } from '../client/uri.js';
import { POLICY_KEYS, federationOf, parseUpstream, policyKeysTogether, validateUpstream, validateUpstreamSet, type Upstream } from './definition.js';
import { FederationLink, type FederatedExchanges } from './link.js';
import { QueueFederationLink } from './queue-link.js';

export const UPSTREAM_COMPONENT = 'federation-upstream';
export const SET_COMPONENT = 'federation-upstream-set';
const RECONCILE_MS = 1000;

type Obj = { [k: string]: JsonValue };
const isObj = (v: JsonValue): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A component that keeps its values for the plugin to read; the plugin acts on them. */
class Values implements ParameterComponent {
  readonly values = new Map<string, Map<string, JsonValue>>();
  constructor(
    readonly name: string,
    private readonly check: (name: string, value: JsonValue) => string[],
    private readonly changed: () => void,
    readonly status?: () => ParameterStatus[],
    readonly restart?: (vhost: string, name: string) => boolean,
  ) {}
  validate(_vhost: string, name: string, value: JsonValue): string[] {
    return this.check(name, value);
  }
  set(vhost: string, name: string, value: JsonValue): void {
    let m = this.values.get(vhost);
    if (!m) this.values.set(vhost, (m = new Map()));
    m.set(name, value);
    this.changed();
  }
  cleared(vhost: string, name: string): void {
    this.values.get(vhost)?.delete(name);
    this.changed();
  }
}

interface Wanted {
  vhost: string;
  /** The federated exchange's or queue's name. */
  target: string;
  kind: 'exchange' | 'queue';
  policy: string;
  upstream: Upstream;
  /** The upstream's value with its overrides: a change restarts the link. */
  fingerprint: string;
}

const linkId = (vhost: string, target: string, upstream: string): string => createHash('sha1').update(`${vhost}\0${target}\0${upstream}`).digest('hex').slice(0, 8);

class Federation {
  readonly upstreams: Values;
  readonly sets: Values;
  private readonly links = new Map<string, { link: FederationLink | QueueFederationLink; fingerprint: string }>();
  running = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly broker: Broker) {
    const again = (): void => this.reconcile();
    this.upstreams = new Values(UPSTREAM_COMPONENT, validateUpstream, again, () => this.status(), (v, id) => this.restart(v, id));
    this.sets = new Values(SET_COMPONENT, validateUpstreamSet, again);
  }

  start(): void {
    this.running = true;
    this.reconcile();
    this.timer = setInterval(() => this.reconcile(), RECONCILE_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    const all = [...this.links.values()];
    this.links.clear();
    await Promise.all(all.map((l) => l.link.stop()));
  }

  /** The upstreams a policy's definition asks for in a vhost, with a set's overrides. */
  private upstreamsFor(vhost: string, definition: Obj): { upstream: Upstream; fingerprint: string }[] {
    const fed = federationOf(definition as Parameters<typeof federationOf>[0]);
    const ups = this.upstreams.values.get(vhost) ?? new Map<string, JsonValue>();
    const one = (name: string, overrides: Obj = {}): { upstream: Upstream; fingerprint: string }[] => {
      const v = ups.get(name);
      return v !== undefined && isObj(v) ? [{ upstream: parseUpstream(name, v, overrides), fingerprint: JSON.stringify([v, overrides]) }] : [];
    };
    if (!fed) return [];
    if ('name' in fed) return one(fed.name);
    if ('pattern' in fed) return [...ups.keys()].filter((n) => fed.pattern.test(n)).flatMap((n) => one(n));
    if (fed.set === 'all') return [...ups.keys()].flatMap((n) => one(n));
    const set = this.sets.values.get(vhost)?.get(fed.set);
    if (!Array.isArray(set)) return [];
    return set.flatMap((m) => {
      if (!isObj(m) || typeof m.upstream !== 'string') return [];
      const { upstream, ...overrides } = m;
      return one(upstream, overrides);
    });
  }

  /** What the policies ask for now, by link key. */
  private wanted(): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    // No upstream anywhere: no link can be wanted, and a broker with 100,000 queues is not scanned each second.
    if ([...this.upstreams.values.values()].every((m) => m.size === 0)) return out;
    for (const v of this.broker.vhosts.values()) {
      if ((this.upstreams.values.get(v.name)?.size ?? 0) === 0) continue;
      const add = (kind: Wanted['kind'], target: string, policy: { name: string; definition: unknown } | null): void => {
        if (!policy) return;
        for (const { upstream, fingerprint } of this.upstreamsFor(v.name, policy.definition as Obj)) {
          out.set(`${kind}\0${v.name}\0${target}\0${upstream.name}`, { vhost: v.name, target, kind, policy: policy.name, upstream, fingerprint });
        }
      };
      for (const x of v.exchanges.values()) if (x.name !== '' && !x.name.startsWith('amq.')) add('exchange', x.name, x.policy);
      for (const q of v.queues.values()) add('queue', q.name, q.policy);
    }
    return out;
  }

  /** Starts what is wanted and not running, restarts what changed, stops (and cleans up) the rest. */
  reconcile(): void {
    const here = this.running && runsSingletons(this.broker.cluster);
    const wanted = here ? this.wanted() : new Map<string, Wanted>();
    for (const [k, { link, fingerprint }] of [...this.links]) {
      const w = wanted.get(k);
      if (w && w.fingerprint === fingerprint) continue;
      this.links.delete(k);
      // Gone for good (policy, upstream or exchange removed): its upstream objects go too.
      void link.stop(here && !w);
    }
    for (const [k, w] of wanted) {
      if (this.links.has(k)) continue;
      const link =
        w.kind === 'exchange'
          ? new FederationLink(w.vhost, w.target, w.upstream, w.policy, this.broker, this.exchanges())
          : new QueueFederationLink(w.vhost, w.target, w.upstream, w.policy, this.broker, (vhost, name) => {
              // The federated queue wants messages while it has consumers and nothing ready for them.
              const q = this.broker.vhosts.get(vhost)?.queues.get(name);
              return q !== undefined && q.consumers.length > 0 && q.readyCount === 0;
            });
      this.links.set(k, { link, fingerprint: w.fingerprint });
    }
  }

  /** The federated exchanges, as links read them. */
  private exchanges(): FederatedExchanges {
    const broker = this.broker;
    const exchange = (vhost: string, name: string) => broker.vhosts.get(vhost)?.exchanges.get(name);
    return {
      typeOf: (vhost, name) => exchange(vhost, name)?.type ?? null,
      bindingsOf: (vhost, name) => {
        const x = exchange(vhost, name);
        return x ? [...x.bindings.values()].map((b) => ({ routingKey: b.routingKey, arguments: b.arguments })) : null;
      },
    };
  }

  /** Each link as /api/federation-links shows it (3.10.8's keys and order). */
  status(): ParameterStatus[] {
    return [...this.links.values()].map(({ link }) => {
      const details: [string, string][] =
        link instanceof FederationLink
          ? [
              ['exchange', link.exchange],
              ['upstream_exchange', link.upstreamExchange],
              ['type', 'exchange'],
            ]
          : [
              ['queue', link.queue],
              ['upstream_queue', link.upstreamQueue],
              ['consumer_tag', link.consumerTag],
              ['type', 'queue'],
            ];
      details.push(['vhost', link.vhost], ['upstream', link.upstream.name], ['id', this.idOf(link)], ['status', link.status]);
      if (link.error !== null) details.push(['error', link.error]);
      // While connected: this broker's connection of the link (its downstream end) and the upstream URI.
      if (link.uri) details.push(['local_connection', link.localConnection], ['uri', withoutCredentials(link.uri.text)]);
      return { vhost: link.vhost, name: link.upstream.name, state: link.status, since: link.since, details };
    });
  }

  private idOf(link: FederationLink | QueueFederationLink): string {
    return link instanceof FederationLink ? linkId(link.vhost, link.exchange, link.upstream.name) : linkId(link.vhost, `q:${link.queue}`, link.upstream.name);
  }

  /** restart_federation_link: by its id. */
  private restart(vhost: string, id: string): boolean {
    for (const { link } of this.links.values()) {
      if (link.vhost === vhost && this.idOf(link) === id) {
        link.restart();
        return true;
      }
    }
    return false;
  }
}

/** The federation plugin: components and policy keys before the listeners open, links once they are. */
export function federationPlugin(): BrokerPlugin {
  let federation: Federation | null = null;
  const register = (broker: Broker): Federation => {
    const f = new Federation(broker);
    registerPolicyKeys(POLICY_KEYS, policyKeysTogether);
    broker.parameters.register(f.upstreams);
    broker.parameters.register(f.sets);
    return f;
  };
  return {
    async beforeListen(broker: Broker): Promise<void> {
      federation = register(broker);
    },
    async start(broker: Broker): Promise<RunningPlugin> {
      const f = federation ?? register(broker);
      f.start();
      return { listeners: [], close: () => f.stop() };
    },
  };
}
