"""Seed's 消息持久化 sender: durable queue + delivery_mode=2."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('send a message to a durable queue')
p.add_argument('--queue', default='hello1')
p.add_argument('--body', default='HelloWorld!!')
p.add_argument('--delivery-mode', type=int, default=2, help='2 = persistent (seed), 1 = transient')
p.add_argument('--count', type=int, default=1, help='send COUNT messages, BODY-0 … BODY-(COUNT-1) when more than one')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'durable_send')

# 连上rabbitMQ
connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()  # 生成管道,在管道里跑不同的队列

# 声明queue
channel.queue_declare(queue=args.queue, durable=True)  # 设置队列并且持久化

# 向队列里发数据                                                                  持久化第二步
for i in range(args.count):
    body = args.body if args.count == 1 else f'{args.body}-{i}'
    channel.basic_publish(exchange='', routing_key=args.queue, body=body,
                          properties=pika.BasicProperties(delivery_mode=args.delivery_mode))
    emit('sent', queue=args.queue, body=body, delivery_mode=args.delivery_mode)
print("Sent Message succeed", flush=True)
connection.close()
emit('done', sent=args.count)
