"""Tutorial 2 "Work queues" (worker.py): durable queue, basic_qos(prefetch_count=1), manual ack.

Each '.' in a body is --dot-seconds of work (1 s in the tutorial). Runs until killed, until
--count messages were handled, or until --hard-timeout.
"""
import time

import pika

from common import emit, install_hard_timeout, parser, text

p = parser('tutorial 2: worker', hard_timeout=60.0)
p.add_argument('--queue', default='task_queue')
p.add_argument('--name', required=True)
p.add_argument('--dot-seconds', type=float, default=1.0)
p.add_argument('--count', type=int, default=0, help='exit after COUNT messages (0: run until killed)')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_worker-' + args.name)

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.queue_declare(queue=args.queue, durable=True)
print(' [*] Waiting for messages. To exit press CTRL+C', flush=True)

handled = []


def callback(ch, method, properties, body):
    print(" [x] Received %r" % body, flush=True)
    emit('started', worker=args.name, body=text(body), redelivered=bool(method.redelivered),
         delivery_mode=properties.delivery_mode)
    time.sleep(body.count(b'.') * args.dot_seconds)
    print(" [x] Done", flush=True)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    emit('handled', worker=args.name, body=text(body), redelivered=bool(method.redelivered),
         delivery_mode=properties.delivery_mode)
    handled.append(body)
    if args.count and len(handled) >= args.count:
        ch.stop_consuming()


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue=args.queue, on_message_callback=callback)
emit('ready', worker=args.name, queue=args.queue)
channel.start_consuming()
connection.close()
emit('done', worker=args.name, handled=len(handled))
