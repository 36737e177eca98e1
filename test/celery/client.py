# Drives the worker of tasks.py through what Celery users do, one JSON line per check.
import json
import sys

from celery import chain, group

from tasks import add, app, flaky, slow


def out(check, **kw):
    print(json.dumps({'check': check, **kw}), flush=True)


out('add', value=add.delay(2, 3).get(timeout=10))
out('countdown', value=add.apply_async((1, 1), countdown=1).get(timeout=10))
out('retry', value=flaky.delay(2).get(timeout=10))
out('group', value=group(slow.s(i) for i in range(20))().get(timeout=20))
out('chain', value=chain(add.s(1, 2), add.s(3), add.s(4))().get(timeout=10))
# expires=0.001 goes out as expiration '1': the worker must still get it, to revoke it.
outcomes = []
for i in range(30):
    try:
        add.apply_async((1, 2), expires=0.001).get(timeout=3)
        outcomes.append('ran')
    except Exception as e:
        outcomes.append(type(e).__name__)
out('expires', value=outcomes)
insp = app.control.inspect(timeout=2)
out('ping', value=insp.ping())
queues = insp.active_queues() or {}
out('active_queues', value=sorted(q['name'] for qs in queues.values() for q in qs))
out('rate_limit', value=app.control.rate_limit('tasks.add', '100/m', reply=True))
sys.exit(0)
