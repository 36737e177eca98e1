"""Tutorial 1 "Hello World!" (receive.py): consume from 'hello' with auto_ack.

Exits after --count messages; exits 3 (after printing a 'timeout' event) if they do not
arrive within --timeout seconds.
"""
import sys

import pika

from common import emit, install_hard_timeout, parser, text

p = parser('tutorial 1: receive')
p.add_argument('--queue', default='hello')
p.add_argument('--count', type=int, default=1)
p.add_argument('--timeout', type=float, default=10.0)
args = p.parse_args()
install_hard_timeout(max(args.hard_timeout, args.timeout + 10), 'tutorial_receive')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

ok = channel.queue_declare(queue=args.queue)
emit('declared', queue=ok.method.queue, message_count=ok.method.message_count)

received = []


def callback(ch, method, properties, body):
    print(" [x] Received %r" % body, flush=True)
    emit('received', body=text(body), exchange=method.exchange, routing_key=method.routing_key,
         redelivered=bool(method.redelivered))
    received.append(body)
    if len(received) >= args.count:
        ch.stop_consuming()


timed_out = []


def on_timeout():
    timed_out.append(True)
    emit('timeout', received=len(received))
    channel.stop_consuming()


channel.basic_consume(queue=args.queue, on_message_callback=callback, auto_ack=True)
connection.call_later(args.timeout, on_timeout)
emit('ready', queue=args.queue)
print(' [*] Waiting for messages. To exit press CTRL+C', flush=True)
channel.start_consuming()
connection.close()
emit('done', received=len(received))
sys.exit(3 if timed_out else 0)
