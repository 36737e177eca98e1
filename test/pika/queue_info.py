"""Passive queue_declare: prints message/consumer counts, or the channel.close reply code (404 if missing)."""
import pika

from common import emit, install_hard_timeout, parser

p = parser('inspect a queue with a passive declare')
p.add_argument('--queue', required=True)
args = p.parse_args()
install_hard_timeout(args.hard_timeout, 'queue_info')

connection = pika.BlockingConnection(pika.ConnectionParameters(host=args.host, port=args.port))
channel = connection.channel()
try:
    ok = channel.queue_declare(queue=args.queue, passive=True)
    emit('exists', queue=ok.method.queue, message_count=ok.method.message_count,
         consumer_count=ok.method.consumer_count)
except pika.exceptions.ChannelClosedByBroker as e:
    emit('channel_closed', queue=args.queue, reply_code=e.reply_code, reply_text=e.reply_text)
connection.close()
