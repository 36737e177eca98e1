"""Seed's first receiver: consumes with auto_ack=False and never acks.

Prints each message and keeps consuming until it is killed (the test SIGKILLs it
while it still holds the message unacked) or --hard-timeout expires.
"""
import pika

from common import emit, install_hard_timeout, parser, text

p = parser('consume without acking, until killed', hard_timeout=60.0)
p.add_argument('--queue', default='hello1')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'noack_consumer')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
channel.queue_declare(queue=args.queue)  # 声明队列,保证程序不出错


def callback(ch, method, properties, body):
    # deliberately no basic_ack: the message stays unacked on this channel
    emit('received', body=text(body), redelivered=bool(method.redelivered), delivery_tag=method.delivery_tag)


channel.basic_consume(args.queue, callback, auto_ack=False)
emit('ready', queue=args.queue)
print('[*] Waiting for messages.To exit press CTRL+C', flush=True)
channel.start_consuming()
