"""Seed's Fibonacci RPC client; calls fib(n) for each n given on the command line."""
import time
import uuid

import pika

from common import emit, install_hard_timeout, parser

p = parser('Fibonacci RPC client')
p.add_argument('--name', default='client')
p.add_argument('--call-timeout', type=float, default=15.0)
p.add_argument('n', type=int, nargs='+')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'rpc_client-' + args.name)


class FibonacciRpcClient(object):

    def __init__(self):
        self.connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
        self.channel = self.connection.channel()
        self.channel.queue_declare(queue='rpc_queue')
        # 随机建立一个queue,为了监听返回的结果
        result = self.channel.queue_declare('', exclusive=True)
        print('client:随机监听队列已建立', flush=True)
        self.callback_queue = result.method.queue  # 队列名
        emit('callback_queue', client=args.name, queue=self.callback_queue)
        self.channel.basic_consume(self.callback_queue, self.on_response,  # 一接收客户端发来的指令就调用回调函数on_response
                                   auto_ack=True)

    def on_response(self, ch, method, props, body):  # 回调
        if self.corr_id == props.correlation_id:
            self.response = body
        else:
            emit('mismatch', client=args.name, expected=self.corr_id, got=props.correlation_id,
                 body=body.decode('utf-8', errors='replace'))
        print('client:收到server端处理结果', flush=True)

    def call(self, n):
        self.response = None  # 指令执行后返回的消息
        self.corr_id = str(uuid.uuid4())  # 可用来标识指令(顺序)
        print('向client端发送消息' + str(n), flush=True)
        self.channel.basic_publish(exchange='',
                                   routing_key='rpc_queue',  # client发送指令,发到rpc_queue
                                   properties=pika.BasicProperties(
                                       reply_to=self.callback_queue,  # 将指令执行结果返回到reply_to队列
                                       correlation_id=self.corr_id,
                                   ),
                                   body=str(n))
        deadline = time.monotonic() + args.call_timeout
        while self.response is None:
            self.connection.process_data_events()  # 去queue接收数据(不阻塞)
            if time.monotonic() > deadline:
                raise TimeoutError('no RPC response for fib(%d) within %.1fs' % (n, args.call_timeout))
        return int(self.response)


fibonacci_rpc = FibonacciRpcClient()
for n in args.n:
    response = fibonacci_rpc.call(n)
    print("client:Got %r" % response, flush=True)
    emit('result', client=args.name, n=n, result=response)
fibonacci_rpc.connection.close()
emit('done', client=args.name, calls=len(args.n))
