"""Logging for the containers: one line per record on stderr, for `docker logs`."""

from __future__ import annotations

import logging
import os


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("CARIFLEX_SIMULATOR_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
