"""Hello world sender (seed: 简单的rabbitMQ队列通信, send side)."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('send messages to a queue')
p.add_argument('--queue', default='hello1')
p.add_argument('--body', default='HelloWorld!!')
p.add_argument('--count', type=int, default=1, help='send COUNT messages; with COUNT>1 bodies get a "-<i>" suffix')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'send')

# 连上rabbitMQ
connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()  # 生成管道,在管道里跑不同的队列

# 声明queue
channel.queue_declare(queue=args.queue)

# 向队列里发数据
bodies = [args.body] if args.count == 1 else ['%s-%d' % (args.body, i) for i in range(args.count)]
for body in bodies:
    channel.basic_publish(exchange='', routing_key=args.queue, body=body)
    emit('sent', queue=args.queue, body=body)
print("Sent Message succeed", flush=True)
connection.close()
emit('done', sent=len(bodies))
