"""Entry point of the weather-ingest container (same image as the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from cariflex_simulator.config import ConfigError, load_config
from cariflex_simulator.logs import setup_logging
from cariflex_simulator.runner import run_until_signalled
from cariflex_simulator.weather.ingest import WeatherIngest


def main() -> int:
    setup_logging()
    try:
        ingest = WeatherIngest(load_config())
    except ConfigError as err:
        logging.getLogger("cariflex_simulator.weather").error("configuration: %s", err)
        return 2
    task: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal task
        task = asyncio.create_task(ingest.run_forever(), name="weather")

    async def stop() -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ingest.close()

    asyncio.run(run_until_signalled(start, stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
