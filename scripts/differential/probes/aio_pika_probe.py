# A probe of `npm run differential`: aio-pika (Debian python3-aio-pika) through what its users do,
# one {"check", "value"} JSON line per check, compared between Warren and RabbitMQ.
import asyncio, json, os
import aio_pika
from aio_pika import Message, DeliveryMode, ExchangeType

async def main(port):
    out = []
    conn = await aio_pika.connect_robust(f"amqp://guest:guest@127.0.0.1:{port}/")
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        await ch.set_qos(prefetch_count=3)
        q = await ch.declare_queue(exclusive=True)
        out.append(['server-named', q.name.startswith('amq.gen-')])
        x = await ch.declare_exchange('aio.x', ExchangeType.HEADERS, auto_delete=True)
        await q.bind(x, arguments={'x-match': 'any', 'k': 'v', 'n': 1})
        r = await x.publish(Message(b'hdr', headers={'k': 'v'}, delivery_mode=DeliveryMode.PERSISTENT, priority=1, expiration=10), routing_key='')
        out.append(['confirm', type(r).__name__])
        r = await x.publish(Message(b'nomatch', headers={'k': 'w'}), routing_key='', mandatory=False)
        m = await q.get(timeout=2, fail=False)
        out.append(['headers-routed', m.body.decode(), dict(m.headers), m.priority, m.delivery_mode.value if m.delivery_mode else None, str(m.expiration)])
        await m.ack()
        out.append(['empty', await q.get(fail=False)])
        # mandatory unroutable with confirms -> returned
        try:
            await ch.default_exchange.publish(Message(b'x'), routing_key='no-such-q', mandatory=True)
            out.append(['unroutable', 'no error'])
        except Exception as e:
            out.append(['unroutable', type(e).__name__])
        # consumer iterator with prefetch and reject->requeue
        q2 = await ch.declare_queue('aio.q2', auto_delete=True, arguments={'x-max-priority': 5})
        for p in [1, 5, 3]:
            await ch.default_exchange.publish(Message(f'p{p}'.encode(), priority=p), routing_key='aio.q2')
        got = []
        async with q2.iterator() as it:
            async for msg in it:
                got.append((msg.body.decode(), msg.redelivered))
                if len(got) == 1:
                    await msg.reject(requeue=True)
                else:
                    await msg.ack()
                if len(got) == 4:
                    break
        out.append(['priority+requeue', got])
        # passive declare of a missing queue -> channel closed, robust channel reopens
        try:
            await ch.declare_queue('aio.missing', passive=True)
        except Exception as e:
            out.append(['passive-missing', type(e).__name__, str(e)[:100]])
        ch2 = await conn.channel()
        dq = await ch2.declare_queue('aio.dq', auto_delete=True, arguments={'x-queue-type': 'classic', 'x-message-ttl': 60000})
        await ch2.default_exchange.publish(Message(b'a'), routing_key='aio.dq')
        await asyncio.sleep(0.1)
        dq2 = await ch2.declare_queue('aio.dq', passive=True)
        out.append(['declare-count', dq2.declaration_result.message_count, dq2.declaration_result.consumer_count])
        try:
            await ch2.declare_queue('aio.dq', auto_delete=True, arguments={'x-message-ttl': 1000})
        except Exception as e:
            out.append(['inequivalent', type(e).__name__, str(e)[:160]])
        ch3 = await conn.channel()
        await ch3.queue_delete('aio.dq')
        # transactions
        ch4 = await conn.channel(publisher_confirms=False)
        tq = await ch4.declare_queue(exclusive=True)
        tx = ch4.transaction()
        await tx.select()
        await ch4.default_exchange.publish(Message(b't1'), routing_key=tq.name)
        await tx.rollback()
        await ch4.default_exchange.publish(Message(b't2'), routing_key=tq.name)
        await tx.commit()
        m = await tq.get(fail=False)
        out.append(['tx', m.body.decode() if m else None])
    for check, *value in out:
        print(json.dumps({'check': check, 'value': value}, default=str))

asyncio.run(main(int(os.environ['PROBE_PORT'])))
