"""The simulator: steps the devices in wall-clock time and posts what FlexMeasures should see.

Every `step_seconds`: PV follows irradiance (the weather sensor's newest value when it is recent,
else a clear-sky curve for the site) with noise; every storage device runs at what it wants (its
RM's instruction for the S2 ones, its own schedule otherwise) and its state of charge moves.
Every `post_interval_seconds`: what is complete is posted, one request per sensor (the fewest
FlexMeasures 1.0.1 allows). Devices that are S2 resources are reported over S2 by their RM, and
recorded by the VEN's S2 service; the simulator posts nothing for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cariflex_simulator.config import Config, ConfigError, read_secret
from cariflex_simulator.devices import Storage, pv_power_kw
from cariflex_simulator.flexmeasures import (
    FlexMeasuresClient,
    FlexMeasuresRefused,
    FlexMeasuresUnavailable,
    Post,
)
from cariflex_simulator.profiles import local_day_quarters, production_price, storage_setpoint_kw
from cariflex_simulator.rm import SimulatedRM
from cariflex_simulator.series import AverageSeries, InstantSeries
from cariflex_simulator.solar import clear_sky_ghi

log = logging.getLogger(__name__)

QUARTER = timedelta(minutes=15)
# Posts waiting while FlexMeasures is away; beyond this the oldest are dropped (it is simulated).
MAX_PENDING_POSTS = 5000


class Simulator:
    def __init__(
        self,
        config: Config,
        password: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        sim, fm = config.simulator, config.flexmeasures
        if password is None:
            if not fm.password_file:
                raise ConfigError("flexmeasures.password_file is required")
            password = read_secret(fm.password_file)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.flexmeasures = FlexMeasuresClient(fm.url, fm.email, password, fm.timeout_seconds)
        self.rng = random.Random(sim.seed or None)
        self.storage = [Storage.from_config(s, sim.time_scale) for s in sim.storage]
        self.rms: dict[str, SimulatedRM] = {}
        for device in self.storage:
            if device.config.is_s2:
                self.rms[device.name] = SimulatedRM(
                    device,
                    f"{sim.s2_url.rstrip('/')}/{device.name}",
                    read_secret(device.config.s2_token_file),
                    sim.s2_reconnect_seconds,
                    self.clock,
                )
        self.pv_series = {
            p.name: AverageSeries(fm.sensor_id(p.sensor), "kW", QUARTER) for p in sim.pv
        }
        self.soc_series = {
            d.name: InstantSeries(
                fm.sensor_id(d.config.soc_sensor), "kWh", timedelta(seconds=sim.soc_sample_seconds)
            )
            for d in self.storage
            if not d.config.is_s2
        }
        self.price_sensor_id = fm.sensor_id(sim.price.sensor) if sim.price.sensor else None
        self.irradiance_sensor_id = fm.sensors.get(sim.irradiance_sensor)
        self.pv_power: dict[str, float] = {p.name: 0.0 for p in sim.pv}
        self.irradiance: tuple[datetime, float] | None = None  # from the weather sensor
        self.irradiance_source = "clear-sky"
        self.pending: list[Post] = []
        self.posted_price_days: set[str] = set()
        self.posts_delivered = 0
        self._last_step: datetime | None = None
        self._last_irradiance_read = -1e18
        self._last_status = -1e18
        self._tasks: list[asyncio.Task[None]] = []

    # --- one step -------------------------------------------------------------------------------

    def current_irradiance(self, now: datetime) -> float:
        sim, site = self.config.simulator, self.config.site
        if self.irradiance is not None:
            seen_at, value = self.irradiance
            if now - seen_at <= timedelta(seconds=sim.irradiance_max_age_seconds):
                self.irradiance_source = "weather"
                return value
        self.irradiance_source = "clear-sky"
        return clear_sky_ghi(now, site.latitude, site.longitude)

    def step(self, now: datetime) -> None:
        """Advance every device from the previous step to `now` (pure: no I/O)."""
        sim, site = self.config.simulator, self.config.site
        previous = self._last_step or now
        # The powers held since the previous step (or since an instruction came between steps)
        # move energy, and the PV powers make their averages.
        for device in self.storage:
            device.advance_to(now)
        for plant in sim.pv:
            self.pv_series[plant.name].add(previous, now, self.pv_power[plant.name])
        # New powers from now on.
        irradiance = self.current_irradiance(now)
        for plant in sim.pv:
            self.pv_power[plant.name] = pv_power_kw(plant, irradiance, sim.pv_noise, self.rng)
        for device in self.storage:
            autonomous = storage_setpoint_kw(device.config, now, site.timezone)
            rm = self.rms.get(device.name)
            device.set_power(rm.wanted_kw(autonomous) if rm else autonomous, now)
            if device.name in self.soc_series:
                self.soc_series[device.name].sample(now, device.soc_kwh)
        self._last_step = now

    def collect_posts(self, now: datetime) -> list[Post]:
        """Everything complete at `now`, at most one post per sensor and run of values."""
        posts: list[Post] = []
        for series in self.pv_series.values():
            posts.extend(series.flush(now))
        for soc in self.soc_series.values():
            posts.extend(soc.flush())
        posts.extend(self.price_posts(now))
        return posts

    def price_posts(self, now: datetime) -> list[Post]:
        """Today's curve at start, tomorrow's once it is past the publish hour (day-ahead)."""
        price, site = self.config.simulator.price, self.config.site
        if self.price_sensor_id is None:
            return []
        local = now.astimezone(ZoneInfo(site.timezone))
        days = [local]
        if local.hour >= price.publish_hour:
            days.append(local + timedelta(days=1))
        posts = []
        for day in days:
            key = day.date().isoformat()
            if key in self.posted_price_days:
                continue
            quarters = local_day_quarters(day, site.timezone)
            # One curve per day, the same on every run: seeded by the day, not the clock.
            day_rng = random.Random(f"production_price-{key}")
            values = tuple(
                production_price(q, site.timezone, price.base_eur_mwh, day_rng) for q in quarters
            )
            posts.append(Post(self.price_sensor_id, quarters[0], QUARTER, "EUR/MWh", values))
            self.posted_price_days.add(key)
        return posts

    # --- I/O ------------------------------------------------------------------------------------

    async def refresh_irradiance(self, now: datetime) -> None:
        if self.irradiance_sensor_id is None:
            return
        try:
            found = await self.flexmeasures.latest_value(
                self.irradiance_sensor_id, "W/m²", now - timedelta(hours=3), now + QUARTER
            )
        except (FlexMeasuresUnavailable, FlexMeasuresRefused) as err:
            log.warning("cannot read the irradiance sensor (clear sky meanwhile): %s", err)
            return
        if found is not None:
            self.irradiance = found

    async def deliver(self) -> None:
        """Post what is pending, oldest first; keep it when FlexMeasures is away."""
        while self.pending:
            post = self.pending[0]
            try:
                await self.flexmeasures.post(post)
            except FlexMeasuresUnavailable as err:
                log.warning("FlexMeasures unavailable, %d post(s) kept: %s", len(self.pending), err)
                return
            except FlexMeasuresRefused as err:
                log.error("FlexMeasures refused a post, dropped: %s", err)
            self.pending.pop(0)
            self.posts_delivered += 1

    async def tick(self) -> None:
        now = self.clock()
        sim = self.config.simulator
        started = time.monotonic()
        self.step(now)
        if started - self._last_irradiance_read >= sim.irradiance_refresh_seconds:
            self._last_irradiance_read = started
            await self.refresh_irradiance(now)
        if started - self._last_status >= sim.s2_status_interval_seconds:
            self._last_status = started
            for rm in self.rms.values():
                await rm.report()

    async def _step_loop(self) -> None:
        sim = self.config.simulator
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("simulation step failed; next step continues")
            await asyncio.sleep(sim.step_seconds)

    async def _post_loop(self) -> None:
        sim = self.config.simulator
        while True:
            await asyncio.sleep(sim.post_interval_seconds)
            await self.post_now()

    async def post_now(self) -> None:
        self.pending.extend(self.collect_posts(self.clock()))
        if len(self.pending) > MAX_PENDING_POSTS:
            del self.pending[: len(self.pending) - MAX_PENDING_POSTS]
        try:
            await self.deliver()
        except Exception:
            log.exception("posting failed; retried at the next post")

    async def start(self) -> None:
        log.info(
            "simulator: %d PV plants, %d storage devices (%d over S2), step %.0f s",
            len(self.config.simulator.pv),
            len(self.storage),
            len(self.rms),
            self.config.simulator.step_seconds,
        )
        # Devices run at their own powers before their RMs describe them to the CEM.
        self.step(self.clock())
        for rm in self.rms.values():
            self._tasks.append(asyncio.create_task(rm.run(), name=f"rm-{rm.name}"))
        self._tasks.append(asyncio.create_task(self._step_loop(), name="simulator-steps"))
        self._tasks.append(asyncio.create_task(self._post_loop(), name="simulator-posts"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.post_now()
        await self.flexmeasures.close()
