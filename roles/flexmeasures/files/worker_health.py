"""Health check of the FlexMeasures worker: healthy only while Redis lists it as a live RQ worker.

A worker container whose process runs but that is not registered (lost its Redis connection,
stuck at start) is reported unhealthy, so "worker not running" is seen, not discovered.
Usage: python /app/worker_health.py WORKER_NAME  (reads Redis settings from FlexMeasures' config)
"""

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
names = {worker.name for worker in Worker.all(connection=connection)}
sys.exit(0 if sys.argv[1] in names else 1)
