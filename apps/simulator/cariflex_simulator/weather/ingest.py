"""One weather run: fetch Open-Meteo, keep what is new, post it, remember it.

A failed fetch (timeout, HTTP error, a body that is not what we asked for) is logged and changes
nothing: the next run asks again, and its look-back window (`past_quarter_hours`) fills the gap.
A failed post leaves the state as it was for that sensor, so its values are posted next run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from cariflex_simulator.config import Config, ConfigError, read_secret
from cariflex_simulator.flexmeasures import (
    FlexMeasuresClient,
    FlexMeasuresRefused,
    FlexMeasuresUnavailable,
    Post,
)
from cariflex_simulator.weather.openmeteo import (
    QUARTER,
    MalformedResponse,
    Reading,
    parse_response,
    request_params,
)
from cariflex_simulator.weather.state import PostedState

log = logging.getLogger(__name__)


class FetchFailed(Exception):
    """Open-Meteo could not be asked, or did not answer usefully this time."""


@dataclass
class RunResult:
    fetched: bool = False
    posted: dict[str, int] = field(default_factory=dict)  # quantity -> values posted
    error: str | None = None


def posts_for(readings: list[Reading], sensor_id: int, prior: datetime) -> list[Post]:
    """Consecutive quarter hours in one post each (one request per run of values)."""
    runs: list[list[Reading]] = []
    for reading in sorted(readings, key=lambda r: r.start):
        if runs and reading.start - runs[-1][-1].start == QUARTER:
            runs[-1].append(reading)
        else:
            runs.append([reading])
    return [
        Post(
            sensor_id=sensor_id,
            start=run[0].start,
            # Equally spaced values: FlexMeasures infers the spacing from duration / count.
            resolution=QUARTER,
            unit=run[0].unit,
            values=tuple(r.value for r in run),
            prior=prior,
        )
        for run in runs
    ]


class WeatherIngest:
    def __init__(self, config: Config, password: str | None = None) -> None:
        self.config = config
        fm = config.flexmeasures
        if password is None:
            if not fm.password_file:
                raise ConfigError("flexmeasures.password_file is required")
            password = read_secret(fm.password_file)
        self.sensor_ids = {
            quantity: fm.sensor_id(name) for quantity, name in config.weather.sensors.items()
        }
        self.flexmeasures = FlexMeasuresClient(fm.url, fm.email, password, fm.timeout_seconds)
        self.state = PostedState(config.weather.state_file)
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.flexmeasures.close()

    async def fetch(self) -> Any:
        weather, site = self.config.weather, self.config.site
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=weather.timeout_seconds)
            )
        params = request_params(site.latitude, site.longitude, weather.past_quarter_hours)
        try:
            async with self._http.get(weather.base_url, params=params) as response:
                text = await response.text()
                if response.status != 200:
                    raise FetchFailed(f"Open-Meteo answered HTTP {response.status}: {text[:200]}")
                try:
                    return await response.json(content_type=None)
                except ValueError as err:
                    raise FetchFailed(f"Open-Meteo's answer is not JSON: {err}") from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise FetchFailed(f"Open-Meteo unreachable: {err!r}") from err

    async def run_once(self, now: datetime | None = None) -> RunResult:
        now = now or datetime.now(UTC)
        result = RunResult()
        try:
            readings = parse_response(await self.fetch(), now)
        except (FetchFailed, MalformedResponse) as err:
            log.error("weather not updated this run (next run retries): %s", err)
            result.error = str(err)
            return result
        result.fetched = True
        for quantity, sensor_id in self.sensor_ids.items():
            new = [
                r
                for r in readings
                if r.quantity == quantity and self.state.is_new(quantity, r.start)
            ]
            if not new:
                continue
            try:
                for post in posts_for(new, sensor_id, now):
                    await self.flexmeasures.post(post)
                    # After each accepted post: a later failure does not repeat this one.
                    self.state.mark(quantity, post.start + post.resolution * (len(post.values) - 1))
                    result.posted[quantity] = result.posted.get(quantity, 0) + len(post.values)
            except (FlexMeasuresUnavailable, FlexMeasuresRefused) as err:
                log.error("weather %s not posted (next run retries): %s", quantity, err)
                result.error = str(err)
        if result.posted:
            log.info("weather posted: %s", ", ".join(f"{k}={v}" for k, v in result.posted.items()))
        return result

    async def run_forever(self) -> None:
        interval = timedelta(seconds=self.config.weather.interval_seconds).total_seconds()
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("weather run failed; next run continues")
            await asyncio.sleep(interval)
