"""Work-queue worker: basic_qos(prefetch_count=1), sleeps --sleep seconds per message, then acks."""
import time

import pika

from common import emit, install_hard_timeout, parser, text

p = parser('fair-dispatch worker', hard_timeout=60.0)
p.add_argument('--queue', default='task_queue')
p.add_argument('--name', required=True)
p.add_argument('--sleep', type=float, default=0.0, help='seconds of "work" per message')
p.add_argument('--prefetch', type=int, default=1)
p.add_argument('--durable', action='store_true', help='declare the queue durable')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'worker-' + args.name)

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
channel.queue_declare(queue=args.queue, durable=args.durable)


def callback(ch, method, properties, body):
    emit('started', worker=args.name, body=text(body))
    time.sleep(args.sleep)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    emit('handled', worker=args.name, body=text(body), redelivered=bool(method.redelivered))


channel.basic_qos(prefetch_count=args.prefetch)  # 公平分发
channel.basic_consume(args.queue, callback, auto_ack=False)
emit('ready', worker=args.name, queue=args.queue)
channel.start_consuming()
