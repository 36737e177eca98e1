"""Shared helpers for the pika e2e scripts (port handling, JSON output, hard timeout)."""
import argparse
import json
import os
import signal
import sys


def emit(event, **fields):
    """Print one machine-readable JSON line and flush it immediately."""
    fields = dict(fields)
    fields['event'] = event
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def text(body):
    if isinstance(body, bytes):
        return body.decode('utf-8', errors='replace')
    return str(body)


def parser(description, hard_timeout=30.0):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--port', type=int, default=int(os.environ.get('AMQP_PORT', '5672')))
    p.add_argument('--host', default=os.environ.get('AMQP_HOST', '127.0.0.1'))
    p.add_argument('--hard-timeout', type=float, default=hard_timeout,
                   help='kill the script (exit 124) after this many seconds, whatever it is doing')
    return p


def install_hard_timeout(seconds, name):
    """Make sure the script can never hang a test: exit 124 after `seconds`."""
    def on_alarm(signum, frame):
        emit('hard_timeout', script=name, seconds=seconds)
        sys.stderr.flush()
        os._exit(124)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
