// Exchange federation (RabbitMQ's rabbitmq_federation), composed onto the broker by the entry as a
// plugin: the runtime parameter components federation-upstream and federation-upstream-set, the
// policy keys that federate exchanges, and the links (link.ts), one per federated exchange and
// upstream. Once a second the plugin compares the links it runs with what the policies, upstreams
// and sets ask for, and starts, restarts or stops links. Queue federation is not built: a queue a
// federation policy matches is listed among the links with status error and the reason, never
// silently left alone. In a cluster the links run on one node (runsSingletons).
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

export const UPSTREAM_COMPONENT = 'federation-upstream';
export const SET_COMPONENT = 'federation-upstream-set';
const RECONCILE_MS = 1000;
const QUEUE_FEDERATION = 'queue federation is not supported by Warren (exchange federation is)';

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
  exchange: string;
  policy: string;
  upstream: Upstream;
  /** The upstream's value with its overrides: a change restarts the link. */
  fingerprint: string;
}

const linkId = (vhost: string, target: string, upstream: string): string => createHash('sha1').update(`${vhost}\0${target}\0${upstream}`).digest('hex').slice(0, 8);

class Federation {
  readonly upstreams: Values;
  readonly sets: Values;
  private readonly links = new Map<string, { link: FederationLink; fingerprint: string }>();
  /** Queues a federation policy matches: shown as links in error. */
  private queueLinks: ParameterStatus[] = [];
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

  /** What the policies ask for now, by link key; queues they match, as links in error. */
  private wanted(): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    const queueLinks: ParameterStatus[] = [];
    this.queueLinks = queueLinks;
    // No upstream anywhere: no link can be wanted, and a broker with 100,000 queues is not scanned each second.
    if ([...this.upstreams.values.values()].every((m) => m.size === 0)) return out;
    for (const v of this.broker.vhosts.values()) {
      if ((this.upstreams.values.get(v.name)?.size ?? 0) === 0) continue;
      for (const x of v.exchanges.values()) {
        const p = x.policy;
        if (!p || x.name === '' || x.name.startsWith('amq.')) continue;
        for (const { upstream, fingerprint } of this.upstreamsFor(v.name, p.definition as Obj)) {
          out.set(`${v.name}\0${x.name}\0${upstream.name}`, { vhost: v.name, exchange: x.name, policy: p.name, upstream, fingerprint });
        }
      }
      for (const q of v.queues.values()) {
        const p = q.policy;
        if (!p) continue;
        for (const { upstream } of this.upstreamsFor(v.name, p.definition as Obj)) {
          queueLinks.push({
            vhost: v.name,
            name: upstream.name,
            state: 'error',
            since: new Date(),
            details: [
              ['queue', q.name],
              ['upstream_queue', upstream.exchange ?? q.name],
              ['type', 'queue'],
              ['vhost', v.name],
              ['upstream', upstream.name],
              ['id', linkId(v.name, `q:${q.name}`, upstream.name)],
              ['status', 'error'],
              ['error', QUEUE_FEDERATION],
            ],
          });
        }
      }
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
      const link = new FederationLink(w.vhost, w.exchange, w.upstream, w.policy, this.broker, this.exchanges());
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
    const rows: ParameterStatus[] = [...this.links.values()].map(({ link }) => {
      const details: [string, string][] = [
        ['exchange', link.exchange],
        ['upstream_exchange', link.upstreamExchange],
        ['type', 'exchange'],
        ['vhost', link.vhost],
        ['upstream', link.upstream.name],
        ['id', linkId(link.vhost, link.exchange, link.upstream.name)],
        ['status', link.status],
      ];
      if (link.error !== null) details.push(['error', link.error]);
      if (link.uri) details.push(['uri', withoutCredentials(link.uri.text)]);
      return { vhost: link.vhost, name: link.upstream.name, state: link.status, since: link.since, details };
    });
    return [...rows, ...this.queueLinks];
  }

  /** restart_federation_link: by its id. */
  private restart(vhost: string, id: string): boolean {
    for (const { link } of this.links.values()) {
      if (link.vhost === vhost && linkId(link.vhost, link.exchange, link.upstream.name) === id) {
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
