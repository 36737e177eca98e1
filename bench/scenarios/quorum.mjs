// Quorum queue: as `persistent` (durable queue, delivery_mode 2, confirm window 1000, 1 publisher →
// 1 consumer with a per-consumer prefetch, since quorum queues refuse a global one), on an
// `x-queue-type: quorum` queue: against RabbitMQ's own quorum queues (Raft log under its mnesia dir).
import { confirmedScenario } from './persistent.mjs';

// LavinMQ 1.0.1 has no quorum queues (it would ignore x-queue-type): not run against it.
export default confirmedScenario({ name: 'quorum', title: 'quorum queue + confirms, 1 pub → 1 con', queueArgs: { 'x-queue-type': 'quorum' }, skipBrokers: ['lavinmq'] });
