"""The simulated devices: pure models, no I/O.

Sign convention (S2's, and the S2 power sensors'): storage power is consumption positive, so
+kW charges the battery (or the car) and -kW discharges it. PV power is production positive
(+kW = producing), as the pv_XX_power sensors say.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from cariflex_simulator.config import PVConfig, StorageConfig

# A PV system turns irradiance into AC power with losses (temperature, inverter, wiring).
PV_PERFORMANCE_RATIO = 0.85
STANDARD_IRRADIANCE_W_M2 = 1000.0


def pv_power_kw(
    config: PVConfig, irradiance_w_m2: float, noise: float, rng: random.Random
) -> float:
    """Production of one plant: its peak power scaled by irradiance, with relative noise."""
    ideal = config.peak_kw * PV_PERFORMANCE_RATIO * max(irradiance_w_m2, 0.0)
    ideal /= STANDARD_IRRADIANCE_W_M2
    if ideal <= 0.0:
        return 0.0
    noisy = ideal * (1.0 + rng.gauss(0.0, noise))
    return min(max(noisy, 0.0), config.peak_kw)


@dataclass
class Storage:
    """A state of charge that evolves with the power it runs at, within its own limits.

    It keeps the time up to which its energy is counted (`at`): a change of power first moves
    the energy of the old power up to that moment, so the state of charge is the same however
    late or often the simulator's steps and the RM's instructions come (a busy machine delays
    them; it must not change the physics)."""

    config: StorageConfig
    soc_kwh: float
    power_kw: float = 0.0
    at: datetime | None = None
    # Energy moved per second of wall-clock time (tests run days in minutes).
    time_scale: float = 1.0

    @classmethod
    def from_config(cls, config: StorageConfig, time_scale: float = 1.0) -> Storage:
        return cls(
            config=config, soc_kwh=config.initial_soc * config.capacity_kwh, time_scale=time_scale
        )

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def soc_share(self) -> float:
        return self.soc_kwh / self.config.capacity_kwh

    def feasible(self, wanted_kw: float) -> float:
        """The power it can run at: within its rating, and not past full or empty."""
        power = min(max(wanted_kw, self.config.min_power_kw), self.config.max_power_kw)
        if power > 0 and self.soc_kwh >= self.config.capacity_kwh:
            return 0.0
        if power < 0 and self.soc_kwh <= 0.0:
            return 0.0
        return power

    def set_power(self, wanted_kw: float, at: datetime | None = None) -> float:
        """Run at `wanted_kw` (within limits) from `at` on (up to `at`, at the old power)."""
        if at is not None:
            self.advance_to(at)
        self.power_kw = self.feasible(wanted_kw)
        return self.power_kw

    def advance_to(self, now: datetime) -> None:
        """Count the energy of the present power from `at` up to `now` (never backwards)."""
        if self.at is not None and now > self.at:
            self.advance((now - self.at).total_seconds() * self.time_scale)
        if self.at is None or now > self.at:
            self.at = now

    def advance(self, seconds: float) -> None:
        """Move energy for `seconds` at the present power; stop at full or empty."""
        energy = self.power_kw * seconds / 3600.0
        self.soc_kwh = min(max(self.soc_kwh + energy, 0.0), self.config.capacity_kwh)
        # Reaching a limit stops the flow that way (the inverter's own protection).
        self.power_kw = self.feasible(self.power_kw)
