"""Tutorial 1 "Hello World!" (send.py): publish one message to the 'hello' queue."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('tutorial 1: send')
p.add_argument('--queue', default='hello')
p.add_argument('--body', default='Hello World!')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_send')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.queue_declare(queue=args.queue)

channel.basic_publish(exchange='', routing_key=args.queue, body=args.body)
print(" [x] Sent %r" % args.body, flush=True)
emit('sent', queue=args.queue, body=args.body)
connection.close()
emit('done')
