"""Tutorial 5 "Topics" (receive_logs_topic.py): an exclusive server-named queue
bound to 'topic_logs' once per binding key given on the command line.

Exits 0 on the '__END__' sentinel, 3 on --timeout.
"""
import sys

import pika

from common import emit, install_hard_timeout, parser, text

p = parser('receive_logs_topic')
p.add_argument('--exchange', default='topic_logs')
p.add_argument('--name', required=True)
p.add_argument('--timeout', type=float, default=15.0)
p.add_argument('binding_keys', nargs='+')
args = p.parse_args()
install_hard_timeout(max(args.hard_timeout, args.timeout + 10), 'tutorial_receive_logs_topic-' + args.name)

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.exchange_declare(exchange=args.exchange, exchange_type='topic')

result = channel.queue_declare('', exclusive=True)
queue_name = result.method.queue

for binding_key in args.binding_keys:
    channel.queue_bind(exchange=args.exchange, queue=queue_name, routing_key=binding_key)

print(' [*] Waiting for logs. To exit press CTRL+C', flush=True)
timed_out = []


def callback(ch, method, properties, body):
    if body == b'__END__':
        emit('end', name=args.name)
        ch.stop_consuming()
        return
    print(" [x] %r:%r" % (method.routing_key, body), flush=True)
    emit('received', name=args.name, body=text(body), exchange=method.exchange, routing_key=method.routing_key)


def on_timeout():
    timed_out.append(True)
    emit('timeout', name=args.name)
    channel.stop_consuming()


channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
connection.call_later(args.timeout, on_timeout)
emit('ready', name=args.name, queue=queue_name, binding_keys=args.binding_keys)
channel.start_consuming()
connection.close()
emit('done', name=args.name)
sys.exit(3 if timed_out else 0)
