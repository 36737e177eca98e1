// Message counters, broker-wide and per queue, for the management API and Prometheus metrics.
// Plain increments on the hot path; rates are computed by whoever samples them.

export class MessageStats {
  publish = 0;
  deliver = 0;
  get = 0;
  ack = 0;
  redeliver = 0;
  confirm = 0;
  returnUnroutable = 0;
}
