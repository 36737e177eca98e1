"""Tutorial 2 "Work queues" (new_task.py): durable 'task_queue', persistent messages."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('tutorial 2: new_task')
p.add_argument('--queue', default='task_queue')
p.add_argument('message', nargs='+', help='one message per argument ("Hello..." = 2 s of work)')
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'tutorial_new_task')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()

channel.queue_declare(queue=args.queue, durable=True)

for message in args.message:
    channel.basic_publish(
        exchange='',
        routing_key=args.queue,
        body=message,
        properties=pika.BasicProperties(
            delivery_mode=2,  # make message persistent
        ))
    print(" [x] Sent %r" % message, flush=True)
    emit('sent', body=message)
connection.close()
emit('done', sent=len(args.message))
