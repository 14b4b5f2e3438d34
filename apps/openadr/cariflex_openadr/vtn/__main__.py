"""Entry point of the openadr-vtn container: `cariflex-vtn` (`python -m cariflex_openadr.vtn`)."""

from __future__ import annotations

import asyncio
import logging
import sys

from cariflex_openadr.config import ConfigError, load_config
from cariflex_openadr.logs import setup_logging
from cariflex_openadr.runner import run_until_signalled
from cariflex_openadr.vtn.prices import price_loader
from cariflex_openadr.vtn.server import VTN


def main() -> int:
    setup_logging()
    try:
        config = load_config()
        vtn_config = config.vtn
        if not vtn_config.allowed_ven_names:
            raise ConfigError("vtn.allowed_ven_names is empty: no VEN could register")
        loader = price_loader(vtn_config.prices, vtn_config.environment)
        vtn = VTN(vtn_config, loader)
    except ConfigError as err:
        logging.getLogger("cariflex_openadr.vtn").error("configuration: %s", err)
        return 2
    asyncio.run(run_until_signalled(vtn.start, vtn.stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
