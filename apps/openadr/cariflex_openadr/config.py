"""One TOML file configures the VTN, the VEN and the S2 service (the Ansible role templates it).

Secrets never sit in the file itself: it names files (mounted secrets) that hold them, so that a
password never shows up in argv, in the environment or in a config dump.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "CARIFLEX_OPENADR_CONFIG"
DEFAULT_CONFIG_PATH = "/etc/cariflex-openadr/config.toml"

SIGNAL_NAMES = ("ENERGY_PRICE", "LOAD_CONTROL", "SIMPLE")


DEFAULT_SENSOR_UNITS = {
    "consumption_price": "EUR/MWh",
    "load_control_signal": "%",
    "demand_response_signal": "dimensionless",
}


class ConfigError(ValueError):
    """The configuration file is missing a key or holds a value we cannot use."""


def read_secret(path: str) -> str:
    """Read a secret from a file; trailing newlines are a templating artefact, not part of it."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read secret file {path}: {err.strerror}") from err


@dataclass(frozen=True)
class PriceConfig:
    source: str = "default_tariff"  # "file", "url" or "default_tariff"
    path: str = ""
    url: str = ""
    resolution_minutes: int = 60
    publish_hour: int = 14  # local hour at which the next day's prices are published
    allow_default_tariff_in_production: bool = False


@dataclass(frozen=True)
class VTNConfig:
    vtn_id: str = "CariflexVTN"
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    path: str = "/OpenADR2/Simple/2.0b"
    poll_interval_seconds: int = 10
    allowed_ven_names: tuple[str, ...] = ()
    state_dir: str = "/var/lib/cariflex-openadr"
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    environment: str = "production"
    timezone: str = "Europe/Paris"
    market_context: str = "oadr://cariflex.digitribe.fr/main"
    load_control_default_hours: float = 4.0
    http_cert: str = ""
    http_key: str = ""
    http_ca_file: str = ""
    prices: PriceConfig = field(default_factory=PriceConfig)


@dataclass(frozen=True)
class FlexMeasuresConfig:
    url: str = "http://flexmeasures-server:5000"
    email: str = ""
    password_file: str = ""
    timeout_seconds: float = 10.0
    retry_seconds: float = 5.0
    sensors: dict[str, int] = field(default_factory=dict)
    # The unit we post in, per sensor name; FlexMeasures converts it to the sensor's own unit.
    units: dict[str, str] = field(default_factory=dict)

    def unit_of(self, name: str) -> str:
        return self.units.get(name, DEFAULT_SENSOR_UNITS.get(name, ""))

    def sensor_id(self, name: str) -> int:
        try:
            return self.sensors[name]
        except KeyError as err:
            raise ConfigError(f"sensor {name!r} is not in [flexmeasures.sensors]") from err


@dataclass(frozen=True)
class VENConfig:
    ven_name: str = "cariflex-ven"
    vtn_url: str = "http://192.168.240.10:8080/OpenADR2/Simple/2.0b"
    state_dir: str = "/var/lib/cariflex-openadr"
    opt_policy: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SIGNAL_NAMES, "optIn"))
    register_retry_seconds: float = 5.0
    vtn_ca_file: str = ""
    cert: str = ""
    key: str = ""


@dataclass(frozen=True)
class S2ResourceConfig:
    resource_id: str
    min_power_kw: float
    max_power_kw: float
    token_file: str
    soc_sensor: str = ""
    power_sensor: str = ""
    # FlexMeasures power sensors carry their own sign convention (attribute
    # `consumption_is_positive`); S2 always counts consumption as positive.
    power_sensor_consumption_is_positive: bool = False


@dataclass(frozen=True)
class DRLevel:
    """What a demand-response level asks of every resource.

    consumption_share: the share of a resource's maximum consumption it may still use.
    discharge_share: the share of its maximum production (discharge) it is asked to deliver.
    """

    consumption_share: float
    discharge_share: float


DEFAULT_DR_LEVELS = {
    0: DRLevel(consumption_share=1.0, discharge_share=0.0),
    1: DRLevel(consumption_share=0.5, discharge_share=0.0),
    2: DRLevel(consumption_share=0.0, discharge_share=0.0),
    3: DRLevel(consumption_share=0.0, discharge_share=0.5),
}


@dataclass(frozen=True)
class S2Config:
    listen_host: str = "0.0.0.0"
    listen_port: int = 8765
    path: str = "/s2"
    site_capacity_kw: float = 250.0
    # Resolution of the S2 resources' power sensors in FlexMeasures (averages over a slot).
    sensor_resolution_minutes: int = 15
    # States of charge are instantaneous: one sample per this many seconds, filed at its instant.
    soc_sample_seconds: int = 60
    resources: tuple[S2ResourceConfig, ...] = ()
    dr_levels: dict[int, DRLevel] = field(default_factory=lambda: dict(DEFAULT_DR_LEVELS))

    def resource(self, resource_id: str) -> S2ResourceConfig | None:
        return next((r for r in self.resources if r.resource_id == resource_id), None)


@dataclass(frozen=True)
class Config:
    vtn: VTNConfig = field(default_factory=VTNConfig)
    ven: VENConfig = field(default_factory=VENConfig)
    flexmeasures: FlexMeasuresConfig = field(default_factory=FlexMeasuresConfig)
    s2: S2Config = field(default_factory=S2Config)


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {', '.join(sorted(unknown))}")
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"[{where}]: {err}") from err


def _vtn(raw: dict[str, Any]) -> VTNConfig:
    values = dict(raw)
    prices = _build(PriceConfig, values.pop("prices", {}), "vtn.prices")
    values["allowed_ven_names"] = tuple(values.get("allowed_ven_names", ()))
    vtn = _build(VTNConfig, {**values, "prices": prices}, "vtn")
    if vtn.vtn_id.islower():
        # openleadr's VENs opt out of every event from a VTN whose id is all lowercase.
        raise ConfigError("vtn.vtn_id must contain an uppercase letter")
    if vtn.environment not in ("production", "development"):
        raise ConfigError("vtn.environment must be 'production' or 'development'")
    if prices.source not in ("file", "url", "default_tariff"):
        raise ConfigError("vtn.prices.source must be 'file', 'url' or 'default_tariff'")
    if prices.resolution_minutes not in (15, 60):
        raise ConfigError("vtn.prices.resolution_minutes must be 15 or 60")
    return vtn


def _ven(raw: dict[str, Any]) -> VENConfig:
    values = dict(raw)
    policy = {**dict.fromkeys(SIGNAL_NAMES, "optIn"), **values.pop("opt_policy", {})}
    for signal, choice in policy.items():
        if choice not in ("optIn", "optOut"):
            raise ConfigError(f"ven.opt_policy.{signal} must be 'optIn' or 'optOut'")
    return _build(VENConfig, {**values, "opt_policy": policy}, "ven")


def _flexmeasures(raw: dict[str, Any]) -> FlexMeasuresConfig:
    values = dict(raw)
    sensors = values.pop("sensors", {})
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in sensors.values()):
        raise ConfigError("[flexmeasures.sensors] maps sensor names to integer ids")
    units = values.pop("units", {})
    return _build(
        FlexMeasuresConfig,
        {**values, "sensors": dict(sensors), "units": dict(units)},
        "flexmeasures",
    )


def _s2(raw: dict[str, Any]) -> S2Config:
    values = dict(raw)
    resources = []
    for item in values.pop("resources", []):
        item = dict(item)
        item["resource_id"] = item.pop("id", item.get("resource_id", ""))
        resource = _build(S2ResourceConfig, item, "s2.resources")
        if not resource.min_power_kw <= 0 <= resource.max_power_kw:
            raise ConfigError(f"s2 resource {resource.resource_id}: range must include 0 kW")
        resources.append(resource)
    levels = dict(DEFAULT_DR_LEVELS)
    for level, entry in values.pop("dr_levels", {}).items():
        dr_level = _build(DRLevel, entry, f"s2.dr_levels.{level}")
        for share in (dr_level.consumption_share, dr_level.discharge_share):
            if not 0.0 <= share <= 1.0:
                raise ConfigError(f"s2.dr_levels.{level}: shares must lie within 0..1")
        levels[int(level)] = dr_level
    s2 = _build(S2Config, {**values, "resources": tuple(resources), "dr_levels": levels}, "s2")
    if s2.site_capacity_kw <= 0:
        raise ConfigError("s2.site_capacity_kw must be positive")
    if s2.soc_sample_seconds <= 0 or s2.soc_sample_seconds % 60:
        # FlexMeasures refuses durations that are not whole minutes (HTTP 422).
        raise ConfigError("s2.soc_sample_seconds must be a positive multiple of 60")
    return s2


def parse_config(raw: dict[str, Any]) -> Config:
    unknown = set(raw) - {"vtn", "ven", "flexmeasures", "s2"}
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    return Config(
        vtn=_vtn(_section(raw, "vtn")),
        ven=_ven(_section(raw, "ven")),
        flexmeasures=_flexmeasures(_section(raw, "flexmeasures")),
        s2=_s2(_section(raw, "s2")),
    )


def load_config(path: str | None = None) -> Config:
    path = path or os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    return parse_config(raw)
