"""Tutorial 5 "Topics" (emit_log_topic.py): publish to the topic exchange 'topic_logs'.

--send KEY MESSAGE (repeatable) publishes MESSAGE with routing key KEY. --end-to QUEUE
(repeatable): afterwards publish '__END__' to QUEUE through the default exchange on the same
channel, so a subscriber knows it has seen everything routed to it before.
"""
import pika

from common import emit, install_hard_timeout, parser

p = parser('emit_log_topic')
p.add_argument('--exchange', default='topic_logs')
p.add_argument('--send', nargs=2, action='append', default=[], metavar=('KEY', 'MESSAGE'))
p.add_argument('--end-to', action='append', default=[])
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_emit_log_topic')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.exchange_declare(exchange=args.exchange, exchange_type='topic')

for routing_key, message in args.send:
    channel.basic_publish(exchange=args.exchange, routing_key=routing_key, body=message)
    print(" [x] Sent %r:%r" % (routing_key, message), flush=True)
    emit('sent', routing_key=routing_key, body=message)
for q in args.end_to:
    channel.basic_publish(exchange='', routing_key=q, body='__END__')
connection.close()
emit('done')
