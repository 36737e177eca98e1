"""A priority queue with a backlog, through pika: publish with confirms, then consume and report
the order the messages came in (for the priority paging test)."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('fill a priority queue, then drain it')
p.add_argument('--queue', default='pika-prio')
p.add_argument('--count', type=int, default=600)
p.add_argument('--max-priority', type=int, default=5)
p.add_argument('--durable', action='store_true')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'priority_backlog')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
channel.confirm_delivery()
channel.queue_declare(queue=args.queue, durable=args.durable, arguments={'x-max-priority': args.max_priority})
for i in range(args.count):
    # Priorities 0..max+1 in turn: the last one is past x-max-priority and goes to its level.
    props = pika.BasicProperties(priority=i % (args.max_priority + 2), delivery_mode=2 if args.durable else 1)
    channel.basic_publish(exchange='', routing_key=args.queue, body=str(i), properties=props)
emit('published', count=args.count)

got = []
channel.basic_qos(prefetch_count=50)
for method, properties, body in channel.consume(args.queue, inactivity_timeout=5):
    if method is None:
        break
    got.append(int(body))
    channel.basic_ack(method.delivery_tag)
    if len(got) == args.count:
        break
channel.cancel()
emit('consumed', order=got)
connection.close()
emit('done')
