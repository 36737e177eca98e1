"""Tutorial 3 "Publish/Subscribe" (receive_logs.py): an exclusive server-named queue bound to 'logs'.

Exits 0 on the '__END__' sentinel, 3 on --timeout.
"""
import sys

import pika

from common import emit, install_hard_timeout, parser, text

p = parser('tutorial 3: receive_logs')
p.add_argument('--exchange', default='logs')
p.add_argument('--name', required=True)
p.add_argument('--timeout', type=float, default=15.0)
args = p.parse_args()
install_hard_timeout(max(args.hard_timeout, args.timeout + 10), 'tutorial_receive_logs-' + args.name)

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.exchange_declare(exchange=args.exchange, exchange_type='fanout')

result = channel.queue_declare(queue='', exclusive=True)
queue_name = result.method.queue

channel.queue_bind(exchange=args.exchange, queue=queue_name)

print(' [*] Waiting for logs. To exit press CTRL+C', flush=True)
timed_out = []


def callback(ch, method, properties, body):
    if body == b'__END__':
        emit('end', name=args.name)
        ch.stop_consuming()
        return
    print(" [x] %r" % body, flush=True)
    emit('received', name=args.name, body=text(body), exchange=method.exchange, routing_key=method.routing_key)


def on_timeout():
    timed_out.append(True)
    emit('timeout', name=args.name)
    channel.stop_consuming()


channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
connection.call_later(args.timeout, on_timeout)
emit('ready', name=args.name, queue=queue_name)
channel.start_consuming()
connection.close()
emit('done', name=args.name)
sys.exit(3 if timed_out else 0)
