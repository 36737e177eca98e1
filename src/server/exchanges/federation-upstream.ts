// RabbitMQ's x-federation-upstream exchange type: what a federation link declares on its upstream
// broker, bound from the federated exchange with the downstream's binding keys. It routes as a
// fanout, but only messages that may still travel to that downstream: fewer hops so far
// (x-received-from entries) than its x-max-hops, and not already received by that downstream (its
// cluster name and vhost in x-received-from), so federation never loops. A Warren upstream needs it
// for RabbitMQ's and Warren's federation links alike.
import { fromFieldValue, type FieldTable, type FieldValue } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

const text = (v: FieldValue | undefined): string | undefined => (v && (v.type === 'S' || v.type === 's') ? String(fromFieldValue(v)) : undefined);

export class FederationUpstreamExchange extends Exchange {
  override readonly readsHeaders = true;
  protected addRoute(_b: Binding): void {}
  protected removeRoute(_b: Binding): void {}

  route(_routingKey: string, headers: FieldTable | undefined, out: Destination[]): void {
    if (!this.shouldForward(headers)) return;
    for (const b of this.bindings.values()) out.push(b.destination);
  }

  private shouldForward(headers: FieldTable | undefined): boolean {
    const seen = headers?.get('x-received-from');
    if (seen?.type !== 'A') return true;
    const hops = this.arguments.get('x-max-hops');
    const maxHops = hops ? Number(fromFieldValue(hops)) : 1;
    if (seen.value.length >= maxHops) return false;
    const name = text(this.arguments.get('x-downstream-name'));
    const vhost = text(this.arguments.get('x-downstream-vhost'));
    if (name === undefined) return true;
    return !seen.value.some((t) => t.type === 'F' && text(t.value.get('cluster-name')) === name && (vhost === undefined || text(t.value.get('vhost')) === vhost));
  }
}
