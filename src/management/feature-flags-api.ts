// /api/feature-flags (list; PUT …/NAME/enable) and /api/auth, as RabbitMQ 3.10.8 answers them.
// Feature flags gate behaviour a cluster of mixed RabbitMQ versions must agree on; upgrade scripts
// and tools list them (and enable them all) before an upgrade. Warren is one version and does
// what each of 3.10.8's flags enables (quorum and stream queues, user limits, vhost metadata, the
// drop_unroutable and get_empty counts …), so every flag is listed enabled, and enabling one it
// knows changes nothing. /api/auth tells a login page whether to use OAuth 2 (UAA): never here.
import type { FastifyInstance } from 'fastify';
import { badRequest } from './http-errors.js';

interface FeatureFlag {
  name: string;
  desc: string;
  doc_url: string;
  state: 'enabled';
  stability: 'stable';
  provided_by: string;
}

const flag = (name: string, desc: string, provided_by = 'rabbit', doc_url = ''): FeatureFlag => ({ name, desc, doc_url, state: 'enabled', stability: 'stable', provided_by });

/** 3.10.8's flags, in its order, with its texts. */
const FLAGS: FeatureFlag[] = [
  flag('classic_mirrored_queue_version', 'Support setting version for classic mirrored queues'),
  flag('drop_unroutable_metric', 'Count unroutable publishes to be dropped in stats', 'rabbitmq_management_agent'),
  flag('empty_basic_get_metric', 'Count AMQP `basic.get` on empty queues in stats', 'rabbitmq_management_agent'),
  flag('implicit_default_bindings', 'Default bindings are now implicit, instead of being stored in the database'),
  flag('maintenance_mode_status', 'Maintenance mode status'),
  flag('quorum_queue', 'Support queues of type `quorum`', 'rabbit', 'https://www.rabbitmq.com/quorum-queues.html'),
  flag('stream_queue', 'Support queues of type `stream`', 'rabbit', 'https://www.rabbitmq.com/stream.html'),
  flag('user_limits', 'Configure connection and channel limits for a user'),
  flag('virtual_host_metadata', 'Virtual host metadata (description, tags, etc)'),
];

export function registerFeatureFlagsApi(app: FastifyInstance): void {
  app.get('/api/feature-flags', async (req) => {
    req.authz.requireAdmin();
    return FLAGS;
  });
  app.put<{ Params: { name?: string } }>('/api/feature-flags/:name/enable', async (req, reply) => {
    req.authz.requireAdmin();
    if (!FLAGS.some((f) => f.name === req.params.name)) throw badRequest('unsupported');
    return reply.code(204).send();
  });
  app.get('/api/auth', async () => ({ enable_uaa: false, uaa_client_id: '', uaa_location: '' }));
}
