"""One TOML file configures the simulator and the weather ingest (the Ansible role templates it).

Secrets never sit in the file: it names mounted files that hold them. Unknown keys are refused
with their name, so a typo in the inventory fails at start instead of being silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_ENV = "CARIFLEX_SIMULATOR_CONFIG"
DEFAULT_CONFIG_PATH = "/etc/cariflex-simulator/config.toml"


class ConfigError(ValueError):
    """The configuration file is missing a key or holds a value we cannot use."""


def read_secret(path: str) -> str:
    """Read a secret from a file; trailing newlines are a templating artefact, not part of it."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read secret file {path}: {err.strerror}") from err


@dataclass(frozen=True)
class SiteConfig:
    latitude: float = 48.85
    longitude: float = 2.35
    timezone: str = "Europe/Paris"


@dataclass(frozen=True)
class FlexMeasuresConfig:
    url: str = "http://flexmeasures-server:5000"
    email: str = ""
    password_file: str = ""
    timeout_seconds: float = 10.0
    # Sensor name -> id (from the flexmeasures role's sensor map).
    sensors: dict[str, int] = field(default_factory=dict)

    def sensor_id(self, name: str) -> int:
        try:
            return int(self.sensors[name])
        except KeyError:
            raise ConfigError(f"no id for sensor {name!r} in [flexmeasures.sensors]") from None


@dataclass(frozen=True)
class PVConfig:
    name: str  # pv_01
    sensor: str  # pv_01_power
    peak_kw: float


@dataclass(frozen=True)
class StorageConfig:
    """A battery or an EV charger with its car: a store of energy behind an inverter."""

    name: str  # battery_01, ev_06
    kind: str  # "battery" or "ev"
    capacity_kwh: float
    min_power_kw: float  # S2 sign: consumption (charging) positive
    max_power_kw: float
    initial_soc: float = 0.5  # share of capacity
    soc_sensor: str = ""  # posted by the simulator; empty for S2 resources (the VEN writes it)
    # S2 resource manager: connects to the VEN's S2 service with the token in this file.
    s2_token_file: str = ""
    # "daily" (a time-of-day schedule) or "constant" (constant_share x max power, for tests).
    profile: str = "daily"
    constant_share: float = 0.0

    @property
    def is_s2(self) -> bool:
        return bool(self.s2_token_file)


@dataclass(frozen=True)
class PriceConfig:
    sensor: str = "production_price"
    base_eur_mwh: float = 60.0
    # Local hour after which the next day's curve is posted (day-ahead style).
    publish_hour: int = 13


@dataclass(frozen=True)
class SimulatorConfig:
    # Seconds of wall-clock time between two steps of the devices.
    step_seconds: float = 10.0
    # How often the simulator posts what it has gathered (one request per sensor per post).
    post_interval_seconds: float = 60.0
    # Spacing of the state-of-charge samples it posts (instantaneous values).
    soc_sample_seconds: float = 60.0
    # Multiplies the energy each step moves (timestamps stay wall-clock): tests use it to see a
    # state of charge move within seconds; 1 in production and development.
    time_scale: float = 1.0
    # Relative standard deviation of the PV noise.
    pv_noise: float = 0.05
    # How often the irradiance sensor is read, and how old its newest value may be.
    irradiance_refresh_seconds: float = 300.0
    irradiance_max_age_seconds: float = 3600.0
    irradiance_sensor: str = "irradiance"
    # S2: the VEN's S2 service, ws://HOST:PORT/s2 (+ /<resource id>).
    s2_url: str = "ws://openadr-ven:8765/s2"
    s2_status_interval_seconds: float = 60.0
    s2_reconnect_seconds: float = 5.0
    seed: int = 0  # random seed of the noise; 0 = from the clock
    pv: tuple[PVConfig, ...] = ()
    storage: tuple[StorageConfig, ...] = ()
    price: PriceConfig = field(default_factory=PriceConfig)


@dataclass(frozen=True)
class WeatherConfig:
    base_url: str = "https://api.open-meteo.com/v1/forecast"
    interval_seconds: float = 900.0
    timeout_seconds: float = 20.0
    # How far back each fetch reaches (quarter hours); a missed run is caught up to this far.
    past_quarter_hours: int = 8
    state_file: str = "/var/lib/cariflex-simulator/weather-state.json"
    sensors: dict[str, str] = field(
        default_factory=lambda: {
            "irradiance": "irradiance",
            "temperature": "temperature",
            "wind_speed": "wind_speed",
        }
    )


@dataclass(frozen=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    flexmeasures: FlexMeasuresConfig = field(default_factory=FlexMeasuresConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    weather: WeatherConfig = field(default_factory=WeatherConfig)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as err:
        raise ConfigError(f"[{where}]: {err}") from err


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {value}")


def parse_config(data: dict[str, Any]) -> Config:
    unknown = sorted(set(data) - {"site", "flexmeasures", "simulator", "weather"})
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(unknown)}")
    site = _build(SiteConfig, dict(data.get("site", {})), "site")
    fm_data = dict(data.get("flexmeasures", {}))
    fm_data["sensors"] = {str(k): int(v) for k, v in fm_data.get("sensors", {}).items()}
    flexmeasures = _build(FlexMeasuresConfig, fm_data, "flexmeasures")

    sim_data = dict(data.get("simulator", {}))
    pv = tuple(
        _build(PVConfig, dict(p), f"simulator.pv[{i}]")
        for i, p in enumerate(sim_data.pop("pv", []))
    )
    storage = tuple(
        _build(StorageConfig, dict(s), f"simulator.storage[{i}]")
        for i, s in enumerate(sim_data.pop("storage", []))
    )
    price = _build(PriceConfig, dict(sim_data.pop("price", {})), "simulator.price")
    simulator = _build(
        SimulatorConfig, {**sim_data, "pv": pv, "storage": storage, "price": price}, "simulator"
    )
    weather = _build(WeatherConfig, dict(data.get("weather", {})), "weather")

    for name in ("step_seconds", "post_interval_seconds", "soc_sample_seconds", "time_scale"):
        _positive(getattr(simulator, name), f"simulator.{name}")
    _positive(weather.interval_seconds, "weather.interval_seconds")
    if simulator.soc_sample_seconds % 60:
        # FlexMeasures refuses durations that are not whole minutes (seen: HTTP 422).
        raise ConfigError("simulator.soc_sample_seconds must be a multiple of 60")
    names = [s.name for s in storage] + [p.name for p in pv]
    if len(set(names)) != len(names):
        raise ConfigError("simulator device names must be unique")
    for device in storage:
        if device.kind not in ("battery", "ev"):
            raise ConfigError(f"{device.name}: kind must be battery or ev, not {device.kind!r}")
        if device.profile not in ("daily", "constant"):
            raise ConfigError(f"{device.name}: profile must be daily or constant")
        if not device.min_power_kw <= 0 <= device.max_power_kw:
            raise ConfigError(f"{device.name}: needs min_power_kw <= 0 <= max_power_kw")
        _positive(device.capacity_kwh, f"{device.name}.capacity_kwh")
        if not 0.0 <= device.initial_soc <= 1.0:
            raise ConfigError(f"{device.name}: initial_soc is a share, 0..1")
        if not device.is_s2 and not device.soc_sensor:
            raise ConfigError(f"{device.name}: a device posted directly needs a soc_sensor")
    if not -90 <= site.latitude <= 90 or not -180 <= site.longitude <= 180:
        raise ConfigError("site latitude/longitude out of range")
    return Config(site=site, flexmeasures=flexmeasures, simulator=simulator, weather=weather)


def load_config(path: str | None = None) -> Config:
    path = path or os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from err
    return parse_config(data)
