"""Entry point of the openadr-ven container: the VEN and its S2 service, one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import sys

from cariflex_openadr.config import ConfigError, load_config
from cariflex_openadr.logs import setup_logging
from cariflex_openadr.runner import run_until_signalled
from cariflex_openadr.ven.app import VEN


def main() -> int:
    setup_logging()
    try:
        ven = VEN(load_config())
    except ConfigError as err:
        logging.getLogger("cariflex_openadr.ven").error("configuration: %s", err)
        return 2
    asyncio.run(run_until_signalled(ven.start, ven.stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
