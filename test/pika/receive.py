"""Hello world receiver: prints bodies, acks, exits after --count messages or --timeout seconds."""
import pika

from common import emit, install_hard_timeout, parser, text

p = parser('receive messages from a queue')
p.add_argument('--queue', default='hello1')
p.add_argument('--count', type=int, default=1, help='stop after COUNT messages (0: run until --timeout)')
p.add_argument('--timeout', type=float, default=10.0, help='stop consuming after this many seconds')
p.add_argument('--durable', action='store_true', help='declare the queue durable')
args = p.parse_args()
install_hard_timeout(max(args.hard_timeout, args.timeout + 10), 'receive')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
ok = channel.queue_declare(queue=args.queue, durable=args.durable)  # 声明队列,保证程序不出错
emit('declared', queue=ok.method.queue, message_count=ok.method.message_count,
     consumer_count=ok.method.consumer_count)

received = []


def callback(ch, method, properties, body):
    emit('received', body=text(body), redelivered=bool(method.redelivered),
         delivery_tag=method.delivery_tag, exchange=method.exchange, routing_key=method.routing_key,
         delivery_mode=properties.delivery_mode)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    received.append(body)
    if args.count and len(received) >= args.count:
        ch.stop_consuming()


def on_timeout():
    emit('timeout', received=len(received))
    channel.stop_consuming()


channel.basic_consume(args.queue, callback, auto_ack=False)
connection.call_later(args.timeout, on_timeout)
emit('ready', queue=args.queue)
channel.start_consuming()
connection.close()
emit('done', received=len(received))
