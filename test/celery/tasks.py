# The Celery app of test/e2e/celery.test.ts: a worker and a client of it, both pointed at the
# broker in CELERY_BROKER, with the rpc:// result backend (results come back over AMQP too).
import os
import time

from celery import Celery

app = Celery('tasks', broker=os.environ['CELERY_BROKER'], backend='rpc://')
app.conf.worker_send_task_events = True
app.conf.task_send_sent_event = True
app.conf.broker_heartbeat = 10
app.conf.broker_connection_retry_on_startup = False
# A prefetch of 2 (2 processes × 1): countdown/ETA tasks held by the worker must raise it (basic.qos).
app.conf.worker_prefetch_multiplier = 1


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=2, default_retry_delay=0.2)
def flaky(self, n):
    if self.request.retries < n:
        raise self.retry()
    return self.request.retries


@app.task(acks_late=True)
def slow(x):
    time.sleep(0.02)
    return x * 2
