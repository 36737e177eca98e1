"""Tutorial 6 "RPC" (rpc_server.py): Fibonacci server on 'rpc_queue', prefetch_count=1."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('tutorial 6: rpc_server', hard_timeout=60.0)
p.add_argument('--name', default='server')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_rpc_server-' + args.name)

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))

channel = connection.channel()

channel.queue_declare(queue='rpc_queue')


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def on_request(ch, method, props, body):
    n = int(body)

    print(" [.] fib(%s)" % n, flush=True)
    response = fib(n)

    ch.basic_publish(exchange='',
                     routing_key=props.reply_to,
                     properties=pika.BasicProperties(correlation_id=props.correlation_id),
                     body=str(response))
    ch.basic_ack(delivery_tag=method.delivery_tag)
    emit('served', server=args.name, n=n, result=response, reply_to=props.reply_to,
         correlation_id=props.correlation_id)


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue='rpc_queue', on_message_callback=on_request)

emit('ready', server=args.name)
print(" [x] Awaiting RPC requests", flush=True)
channel.start_consuming()
