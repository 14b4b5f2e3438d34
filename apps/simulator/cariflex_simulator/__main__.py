"""Entry point of the simulator container."""

from __future__ import annotations

import asyncio
import logging
import sys

from cariflex_simulator.app import Simulator
from cariflex_simulator.config import ConfigError, load_config
from cariflex_simulator.logs import setup_logging
from cariflex_simulator.runner import run_until_signalled


def main() -> int:
    setup_logging()
    try:
        simulator = Simulator(load_config())
    except ConfigError as err:
        logging.getLogger("cariflex_simulator").error("configuration: %s", err)
        return 2
    asyncio.run(run_until_signalled(simulator.start, simulator.stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
