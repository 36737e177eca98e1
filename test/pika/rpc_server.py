"""Seed's Fibonacci RPC server."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('Fibonacci RPC server', hard_timeout=60.0)
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'rpc_server')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
channel.queue_declare(queue='rpc_queue')
print('server:管道-rpc_queue-已建立。', flush=True)


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def on_request(ch, method, props, body):
    n = int(body)
    print("server:接受到" + str(n), flush=True)
    result = fib(n)
    ch.basic_publish(exchange='',  # 服务端发送返回的数据到props.reply_to队列(客户端发送指令时声明)
                     routing_key=props.reply_to,  # correlation_id (随机数)每条指令都有随机独立的标识符
                     properties=pika.BasicProperties(correlation_id=props.correlation_id),
                     body=str(result))
    print('server:回应client端', flush=True)
    ch.basic_ack(delivery_tag=method.delivery_tag)
    emit('served', n=n, result=result, reply_to=props.reply_to, correlation_id=props.correlation_id)


channel.basic_qos(prefetch_count=1)  # 公平分发
channel.basic_consume('rpc_queue', on_request)  # 一接收到消息就调用on_request
emit('ready')
print("server:等待client端响应", flush=True)
channel.start_consuming()
