"""Tutorial 3 "Publish/Subscribe" (emit_log.py): publish to the fanout exchange 'logs'.

--end-to QUEUE (repeatable): after the log messages, publish '__END__' to QUEUE through the
default exchange on the same channel, so a subscriber knows it has seen everything routed
to it before (per-channel ordering).
"""
import pika

from common import emit, install_hard_timeout, parser

p = parser('tutorial 3: emit_log')
p.add_argument('--exchange', default='logs')
p.add_argument('--end-to', action='append', default=[])
p.add_argument('message', nargs='*')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_emit_log')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.exchange_declare(exchange=args.exchange, exchange_type='fanout')

for message in args.message or ['info: Hello World!']:
    channel.basic_publish(exchange=args.exchange, routing_key='', body=message)
    print(" [x] Sent %r" % message, flush=True)
    emit('sent', body=message)
for q in args.end_to:
    channel.basic_publish(exchange='', routing_key=q, body='__END__')
connection.close()
emit('done')
