// Names as RabbitMQ reads them off the wire.

/**
 * RabbitMQ (rabbit_channel:strip_cr_lf) drops carriage returns and line feeds from the queue and
 * exchange names of queue.declare, queue.delete, exchange.declare, exchange.delete and the four
 * binding methods, so "a\nb" declares and finds "ab"; basic.publish, basic.get, basic.consume and
 * queue.purge take names as they are (checked on 3.10.8).
 */
export function stripCrLf(name: string): string {
  return name.includes('\n') || name.includes('\r') ? name.replace(/[\r\n]/g, '') : name;
}
