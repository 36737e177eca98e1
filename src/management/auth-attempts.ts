// /api/auth/attempts/NODE[/source]: logins tried, failed and succeeded per protocol since the last
// reset (DELETE), as RabbitMQ 3.10.8 counts them: each HTTP request that brings credentials is an
// attempt, each AMQP login one (the broker's counters, which Prometheus reads too and so are never
// reset: a reset here keeps a baseline). Protocols with no attempt since the reset are left out.
// The per-source breakdown is off in 3.10.8 unless configured (track_auth_attempt_source): [].
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../server/broker.js';
import { notFound } from './http-errors.js';
import type { ApiAuthz } from './authz.js';

interface Counts {
  succeeded: number;
  failed: number;
}

export class AuthAttempts {
  private readonly http: Counts = { succeeded: 0, failed: 0 };
  private amqpBase: Counts = { succeeded: 0, failed: 0 };

  constructor(private readonly broker: Broker) {}

  /** An HTTP request with credentials was let in, or not. */
  countHttp(ok: boolean): void {
    if (ok) this.http.succeeded++;
    else this.http.failed++;
  }

  view(): object[] {
    const c = this.broker.counters;
    const amqp = { succeeded: c.authSucceeded - this.amqpBase.succeeded, failed: c.authFailed - this.amqpBase.failed };
    const out: object[] = [];
    for (const [protocol, n] of [['http', this.http] as const, ['amqp091', amqp] as const]) {
      if (n.succeeded + n.failed === 0) continue;
      out.push({ protocol, auth_attempts: n.succeeded + n.failed, auth_attempts_failed: n.failed, auth_attempts_succeeded: n.succeeded });
    }
    return out;
  }

  reset(): void {
    this.http.succeeded = 0;
    this.http.failed = 0;
    this.amqpBase = { succeeded: this.broker.counters.authSucceeded, failed: this.broker.counters.authFailed };
  }
}

export function registerAuthAttemptsApi(app: FastifyInstance, broker: Broker, attempts: AuthAttempts): void {
  const check = (a: ApiAuthz, node: string | undefined): void => {
    a.requireMonitor();
    if (node !== broker.nodeName) throw notFound();
  };
  app.get<{ Params: { node?: string } }>('/api/auth/attempts/:node', async (req) => {
    check(req.authz, req.params.node);
    return attempts.view();
  });
  app.get<{ Params: { node?: string } }>('/api/auth/attempts/:node/source', async (req) => {
    check(req.authz, req.params.node);
    return [];
  });
  app.delete<{ Params: { node?: string } }>('/api/auth/attempts/:node', async (req, reply) => {
    check(req.authz, req.params.node);
    attempts.reset();
    return reply.code(204).send();
  });
}
