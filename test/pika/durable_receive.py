"""Seed's 消息持久化 receiver: durable queue, basic_qos(prefetch_count=1), manual ack."""
import pika

from common import emit, install_hard_timeout, parser, text

p = parser('receive from a durable queue')
p.add_argument('--queue', default='hello1')
p.add_argument('--count', type=int, default=1, help='stop after COUNT messages (0: run until --timeout)')
p.add_argument('--timeout', type=float, default=10.0)
args = p.parse_args()
install_hard_timeout(max(args.hard_timeout, args.timeout + 10), 'durable_receive')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
ok = channel.queue_declare(queue=args.queue, durable=True)  # 声明队列,保证程序不出错
emit('declared', queue=ok.method.queue, message_count=ok.method.message_count,
     consumer_count=ok.method.consumer_count)

received = []


def callback(ch, method, properties, body):
    emit('received', body=text(body), redelivered=bool(method.redelivered),
         delivery_tag=method.delivery_tag, delivery_mode=properties.delivery_mode)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    received.append(body)
    if args.count and len(received) >= args.count:
        ch.stop_consuming()


def on_timeout():
    emit('timeout', received=len(received))
    channel.stop_consuming()


channel.basic_qos(prefetch_count=1)  # 一次处理一个队列
channel.basic_consume(args.queue, callback, auto_ack=False)
connection.call_later(args.timeout, on_timeout)
emit('ready', queue=args.queue)
print('Waiting for messages.To exit press CTRL+C', flush=True)
channel.start_consuming()
connection.close()
emit('done', received=len(received))
