"""Tutorial 6 "RPC" (rpc_client.py): FibonacciRpcClient with an exclusive callback queue and correlation ids."""
import time
import uuid

import pika

from common import emit, install_hard_timeout, parser

p = parser('tutorial 6: rpc_client')
p.add_argument('--name', default='client')
p.add_argument('--call-timeout', type=float, default=15.0)
p.add_argument('n', type=int, nargs='+')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_rpc_client-' + args.name)


class FibonacciRpcClient(object):

    def __init__(self):
        self.connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))

        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue='', exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True)

        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body
        else:
            emit('mismatch', client=args.name, expected=self.corr_id, got=props.correlation_id,
                 body=body.decode('utf-8', errors='replace'))

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange='',
            routing_key='rpc_queue',
            properties=pika.BasicProperties(
                reply_to=self.callback_queue,
                correlation_id=self.corr_id,
            ),
            body=str(n))
        deadline = time.monotonic() + args.call_timeout
        while self.response is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no RPC response for fib(%d) within %.1fs' % (n, args.call_timeout))
            self.connection.process_data_events(time_limit=min(left, 1.0))
        return int(self.response)


fibonacci_rpc = FibonacciRpcClient()
emit('callback_queue', client=args.name, queue=fibonacci_rpc.callback_queue)

for n in args.n:
    print(" [x] Requesting fib(%d)" % n, flush=True)
    response = fibonacci_rpc.call(n)
    print(" [.] Got %r" % response, flush=True)
    emit('result', client=args.name, n=n, result=response)
fibonacci_rpc.connection.close()
emit('done', client=args.name, calls=len(args.n))
