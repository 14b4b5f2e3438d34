"""Health check of the FlexMeasures worker: healthy only while Redis lists it as a live RQ worker.

A worker container whose process runs but that is not registered (lost its Redis connection,
stuck at start) is reported unhealthy, so "worker not running" is seen, not discovered.
FlexMeasures registers the worker as WORKER_NAME, or as WORKER_NAME-1, -2, ... while a worker of
that name is still registered (one killed without unregistering stays listed for RQ's worker TTL,
about 7 minutes): any of these names counts, when it was registered from this container.
Usage: python /app/worker_health.py WORKER_NAME  (reads Redis settings from FlexMeasures' config)
"""

import re
import socket
import sys

from flask import Config
from redis import Redis
from rq import Worker

config = Config("/app/instance")
config.from_pyfile("flexmeasures.cfg")
connection = Redis(
    host=config["FLEXMEASURES_REDIS_URL"],
    port=config.get("FLEXMEASURES_REDIS_PORT", 6379),
    db=config.get("FLEXMEASURES_REDIS_DB_NR", 0),
    password=config.get("FLEXMEASURES_REDIS_PASSWORD"),
    socket_timeout=5,
)
name = re.compile(re.escape(sys.argv[1]) + r"(-[0-9]+)?")
hostname = socket.gethostname()
workers = Worker.all(connection=connection)
live = [w for w in workers if name.fullmatch(w.name) and w.hostname == hostname]
sys.exit(0 if live else 1)
