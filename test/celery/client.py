# Drives the worker of tasks.py through what Celery users do, one JSON line per check.
import json
import sys
import time

from celery import chain, group

from tasks import add, app, flaky, slow


def out(check, **kw):
    print(json.dumps({'check': check, **kw}), flush=True)


out('add', value=add.delay(2, 3).get(timeout=10))
out('countdown', value=add.apply_async((1, 1), countdown=1).get(timeout=10))
out('retry', value=flaky.delay(2).get(timeout=10))
out('group', value=group(slow.s(i) for i in range(20))().get(timeout=20))
out('chain', value=chain(add.s(1, 2), add.s(3), add.s(4))().get(timeout=10))
# expires=0.001 goes out as expiration '1': the broker must still deliver it to the waiting worker
# (a message is not dead before a ready consumer gets it). The worker then revokes it, or runs it
# when it read it within the millisecond (RabbitMQ 3.10.8 too, now and then): either way it got
# there. A message the broker dropped would be a TimeoutError here. The wait is 10 s as for the
# other results: with 3 s, one task of 30 timed out once in a full `npm test` on two busy cores,
# and never alone or beside three busy loops (no broker-side refusal was seen in those runs).
# The check needs a worker with room: with a prefetch of 2 and its acks sent by the worker's main
# process, which may lag behind the results its pool processes send on their own connections, two
# tasks can still be unacked when the next arrives, and then it waits in the queue and expires
# there, on RabbitMQ as here. That is a guess at the one timeout seen in a full `npm test` at 10 s
# (never alone, nor beside two busy loops); 50 ms between tasks lets those acks in.
outcomes = []
slowest = 0.0
for i in range(30):
    time.sleep(0.05)
    t0 = time.time()
    try:
        add.apply_async((1, 2), expires=0.001).get(timeout=10)
        outcomes.append('reached the worker')
    except Exception as e:
        name = type(e).__name__
        outcomes.append('reached the worker' if name == 'TaskRevokedError' else name)
    slowest = max(slowest, time.time() - t0)
out('expires', value=outcomes)
# Not a check (a time, which differs from run to run): a line for the test's failure message.
print(f'expires: slowest wait {slowest:.3f} s', flush=True)
insp = app.control.inspect(timeout=2)
# Tasks with a countdown wait in the worker, unacked: it raises its prefetch with basic.qos for each
# one it holds, or they would fill its prefetch of 2 and stop it taking any other task.
etas = [add.apply_async((i, i), countdown=6) for i in range(5)]
# One worker answers: limit=1 returns with its reply instead of waiting out the timeout.
one = app.control.inspect(timeout=2, limit=1)
held = 0
deadline = time.time() + 5
while time.time() < deadline:
    held = sum(len(v) for v in (one.scheduled() or {}).values())
    if held == 5:
        break
    time.sleep(0.2)
out('eta_held', value=held)
out('eta_meanwhile', value=add.delay(7, 7).get(timeout=10))
out('eta_results', value=[r.get(timeout=10) for r in etas])
out('ping', value=insp.ping())
queues = insp.active_queues() or {}
out('active_queues', value=sorted(q['name'] for qs in queues.values() for q in qs))
out('rate_limit', value=app.control.rate_limit('tasks.add', '100/m', reply=True))
sys.exit(0)
