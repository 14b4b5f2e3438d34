# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of digitribe.cariflex.flexmeasures_sensors: validation and difference computation.

No network and no Ansible here, so all of it is unit tested directly. The module feeds
:func:`validate_assets` with its input, then :func:`compute_plan` with what FlexMeasures listed,
and executes the plan it gets back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------- units
# FlexMeasures accepts a unit when pint (with currencies added) can parse it. The target of this
# module has no pint, so this is a conservative re-statement: every unit accepted here was checked
# to parse in FlexMeasures 1.0.1 (tests/integration/test_flexmeasures_sensors_units.py keeps
# checking that), and units outside it are refused before anything is written.
SI_PREFIXES = ("p", "n", "µ", "u", "m", "c", "d", "h", "k", "M", "G", "T", "P")
PREFIXABLE_UNITS = (
    "W", "Wh", "J", "VA", "V", "A", "Ah", "Ω", "ohm", "Hz", "s", "h", "min", "d", "m", "l", "L",
    "g", "t", "K", "Pa", "bar", "lx", "lm", "cd",
)  # fmt: skip
# pint knows these only as they are: no prefix, no exponent.
PLAIN_UNITS = ("%", "‰", "percent", "permille", "dimensionless", "a.u.", "day", "rpm", "kn", "mph")
# Offset units (temperatures) cannot be combined with others in pint: they stand alone.
STANDALONE_UNITS = ("°C", "degC", "°F", "degF")
# ISO 4217 codes known to py-moneyed, which FlexMeasures registers in pint.
_CURRENCY_CODES = """
    ADP AED AFA AFN ALK ALL AMD ANG AOA AOK AON AOR ARA ARL ARM ARP ARS ATS AUD AWG AZM AZN BAD
    BAM BAN BBD BDT BEC BEF BEL BGL BGM BGN BGO BHD BIF BMD BND BOB BOL BOP BOV BRB BRC BRE BRL BRN
    BRR BRZ BSD BTN BUK BWP BYB BYN BYR BZD CAD CDF CHE CHF CHW CLE CLF CLP CNH CNX CNY COP COU CRC
    CSD CSK CUC CUP CVE CYP CZK DDM DEM DJF DKK DOP DZD ECS ECV EEK EGP ERN ESA ESB ESP ETB EUR FIM
    FJD FKP FRF GBP GEK GEL GHC GHS GIP GMD GNF GNS GQE GRD GTQ GWE GWP GYD HKD HNL HRD HRK HTG HUF
    IDR IEP ILP ILR ILS IMP INR IQD IRR ISJ ISK ITL JMD JOD JPY KES KGS KHR KMF KPW KRH KRO KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LTL LTT LUC LUF LUL LVL LVR LYD MAD MAF MCF MDC MDL MGA MGF MKD MKN
    MLF MMK MNT MOP MRO MRU MTL MTP MUR MVP MVR MWK MXN MXP MXV MYR MZE MZM MZN NAD NGN NIC NIO NLG
    NOK NPR NZD OMR PAB PEI PEN PES PGK PHP PKR PLN PLZ PTE PYG QAR RHD ROL RON RSD RUB RUR RWF SAR
    SBD SCR SDD SDG SDP SEK SGD SHP SIT SKK SLE SLL SOS SRD SRG SSP STD STN SUR SVC SYP SZL THB TJR
    TJS TMM TMT TND TOP TPE TRL TRY TTD TVD TWD TZS UAH UAK UGS UGX USD USN USS UYI UYP UYU UYW UZS
    VEB VED VEF VES VND VNN VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XEU XFO XFU XOF XPD XPF XPT
    XRE XSU XTS XUA XXX YDD YER YUD YUM YUN YUR ZAL ZAR ZMK ZMW ZRN ZRZ ZWD ZWL ZWN ZWR"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())
_EXPONENT = re.compile(r"(?:²|³|\*\*[1-9]|\^[1-9])$")
_OPERATOR = re.compile(r"\s*([*/·])\s*")


def _is_valid_factor(factor: str) -> bool:
    if factor == "1" or factor in PLAIN_UNITS:
        return True
    base = _EXPONENT.sub("", factor)
    if not base:
        return False
    symbols = set(PREFIXABLE_UNITS) | CURRENCIES
    if base in symbols:
        return True
    return any(base.startswith(p) and base[len(p) :] in symbols for p in SI_PREFIXES)


def is_valid_unit(unit: Any) -> bool:
    """True when FlexMeasures 1.0.1 accepts `unit` (e.g. kW, EUR/MWh, W/m², °C, %)."""
    if not isinstance(unit, str) or unit != unit.strip() or not unit:
        return False
    if unit in STANDALONE_UNITS:
        return True
    factors = _OPERATOR.split(unit.replace("**", "^"))[::2]  # m**2 is m^2, not m * * 2
    return all(_is_valid_factor(f) for f in factors)


# ------------------------------------------------------------------------------- durations
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: Any) -> float:
    """Seconds in an ISO 8601 duration such as PT15M, PT1H, P1D or PT0H (instantaneous).

    Years and months are refused: their length varies, and a sensor's resolution must be fixed.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an ISO 8601 duration (a string such as PT15M)")
    upper = text.strip().upper()
    if re.match(r"^P[^T]*[YM]", upper):
        raise ValueError(
            f"{text!r} uses years or months, whose length varies; use a fixed duration "
            "such as PT15M, PT1H or P1D"
        )
    match = _DURATION.match(upper)
    if not match or upper in ("P", "PT") or upper.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT15M, PT1H, P1D or PT0H")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("weeks", 0) * 604800
        + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )


def format_duration(seconds: float) -> str:
    """The way FlexMeasures writes a resolution (its duration_isoformat): PT15M, PT24H, PT0H."""
    usecs = round(abs(seconds) * 1_000_000)
    whole, usecs = divmod(usecs, 1_000_000)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    out = ""
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or usecs:
        out += (f"{secs}.{usecs:06d}".rstrip("0") if usecs else str(secs)) + "S"
    return "PT" + (out or "0H")


# ------------------------------------------------------------------------------- time zones
_TZ_NAMES: frozenset | None = None


def _timezones() -> frozenset:
    global _TZ_NAMES
    if _TZ_NAMES is None:
        try:
            from zoneinfo import available_timezones

            _TZ_NAMES = frozenset(available_timezones())
        except ImportError:  # pragma: no cover - Python < 3.9 targets
            _TZ_NAMES = frozenset()
    return _TZ_NAMES


def is_valid_timezone(name: Any) -> bool:
    """An IANA time zone name (Europe/Paris, UTC), as FlexMeasures (pytz) knows them."""
    if not isinstance(name, str) or not name:
        return False
    known = _timezones()
    if known:
        return name in known
    # Without a zone database on the target, accept the IANA shape and let FlexMeasures judge.
    return bool(re.match(r"^(UTC|[A-Z][A-Za-z_+-]+(/[A-Za-z0-9_+-]+)+)$", name))


# ------------------------------------------------------------------------------- validation
# FlexMeasures 1.0.1 moves these legacy sensor attributes into the asset's flex-model when a sensor
# is created, so they never stay where they were declared and every later run would "fix" them.
FLEX_MODEL_LEGACY_ATTRIBUTES = frozenset(
    {
        "capacity_in_mw",
        "charging-efficiency",
        "consumption_capacity",
        "discharging-efficiency",
        "max_soc_in_mwh",
        "min_soc_in_mwh",
        "production_capacity",
        "roundtrip_efficiency",
        "soc-gain",
        "soc-usage",
        "storage_efficiency",
    }
)


@dataclass
class DesiredSensor:
    name: str
    asset: str
    unit: str
    resolution_seconds: float
    event_resolution: str
    timezone: str
    attributes: dict


@dataclass
class DesiredAsset:
    name: str
    asset_type: str
    parent: str | None
    latitude: float | None
    longitude: float | None
    attributes: dict
    sensors: list[DesiredSensor] = field(default_factory=list)


class ValidationFailed(ValueError):
    """Bad input; ``errors`` lists every problem found (all of them, not only the first)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def validate_assets(assets: Any, default_timezone: str = "UTC") -> list[DesiredAsset]:
    """Check the whole declared input; return it normalised, or raise ValidationFailed.

    Checked: names present and unique (assets among assets, sensors across all assets, because
    the module returns one name → id map), units FlexMeasures accepts, ISO 8601 resolutions,
    IANA time zones, coordinates in range, parents that are declared and not circular,
    attributes that are JSON objects.
    """
    errors: list[str] = []
    if not isinstance(assets, list):
        raise ValidationFailed(["assets must be a list of assets"])
    result: list[DesiredAsset] = []
    seen_assets: dict[str, int] = {}
    seen_sensors: dict[str, str] = {}
    for index, raw in enumerate(assets):
        where = f"assets[{index}]"
        if not isinstance(raw, dict):
            errors.append(f"{where} must be a dictionary")
            continue
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where} has no name")
            name = f"#{index}"
        else:
            where = f"asset {name!r}"
            if name in seen_assets:
                errors.append(f"asset name {name!r} is declared twice (assets must be unique)")
            seen_assets[name] = index
        asset_type = raw.get("asset_type")
        if not isinstance(asset_type, str) or not asset_type:
            errors.append(f"{where} has no asset_type (e.g. battery, solar, building)")
        coords = {}
        for key, bound in (("latitude", 90), ("longitude", 180)):
            value = raw.get(key)
            if value is not None:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    errors.append(f"{where}: {key} {raw.get(key)!r} is not a number")
                    value = None
                else:
                    if not -bound <= value <= bound:
                        errors.append(f"{where}: {key} {value} is outside -{bound}..{bound}")
            coords[key] = value
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, dict) or not _json_ok(attributes):
            errors.append(f"{where}: attributes must be a JSON object (a dictionary)")
            attributes = {}
        parent = raw.get("parent") or None
        asset = DesiredAsset(
            name=name,
            asset_type=asset_type or "",
            parent=parent,
            latitude=coords["latitude"],
            longitude=coords["longitude"],
            attributes=attributes,
        )
        sensors = raw.get("sensors") or []
        if not isinstance(sensors, list):
            errors.append(f"{where}: sensors must be a list")
            sensors = []
        for sindex, sraw in enumerate(sensors):
            swhere = f"{where} sensors[{sindex}]"
            if not isinstance(sraw, dict):
                errors.append(f"{swhere} must be a dictionary")
                continue
            sname = sraw.get("name")
            if not isinstance(sname, str) or not sname.strip():
                errors.append(f"{swhere} has no name")
                continue
            swhere = f"sensor {sname!r}"
            if sname in seen_sensors:
                errors.append(
                    f"sensor name {sname!r} is declared twice (on asset {seen_sensors[sname]!r} "
                    f"and on asset {name!r}); sensor names must be unique"
                )
            seen_sensors[sname] = name
            unit = sraw.get("unit")
            if not is_valid_unit(unit):
                errors.append(
                    f"{swhere}: unit {unit!r} is not one FlexMeasures accepts "
                    "(examples: kW, kWh, EUR/MWh, W/m², °C, m/s, %, dimensionless)"
                )
            resolution = sraw.get("event_resolution")
            seconds = 0.0
            try:
                seconds = parse_duration(resolution)
            except ValueError as error:
                errors.append(f"{swhere}: event_resolution {error}")
            timezone = sraw.get("timezone") or default_timezone
            if not is_valid_timezone(timezone):
                errors.append(
                    f"{swhere}: timezone {timezone!r} is not an IANA time zone "
                    "(e.g. Europe/Paris, UTC)"
                )
            sattributes = sraw.get("attributes") or {}
            if not isinstance(sattributes, dict) or not _json_ok(sattributes):
                errors.append(f"{swhere}: attributes must be a JSON object (a dictionary)")
                sattributes = {}
            legacy = sorted(FLEX_MODEL_LEGACY_ATTRIBUTES & set(sattributes))
            if legacy:
                errors.append(
                    f"{swhere}: attributes {', '.join(legacy)} are legacy flex-model fields that "
                    "FlexMeasures moves to the asset's flex-model when the sensor is created; "
                    "leave them out of the sensor's attributes"
                )
            asset.sensors.append(
                DesiredSensor(
                    name=sname,
                    asset=name,
                    unit=unit if isinstance(unit, str) else "",
                    resolution_seconds=seconds,
                    event_resolution=format_duration(seconds),
                    timezone=timezone,
                    attributes=sattributes,
                )
            )
        result.append(asset)
    errors.extend(_parent_errors(result))
    if errors:
        raise ValidationFailed(errors)
    return result


def _parent_errors(assets: list[DesiredAsset]) -> list[str]:
    """Parents must be declared too; a chain of parents must not loop."""
    by_name = {a.name: a for a in assets}
    errors = []
    for asset in assets:
        if asset.parent is not None and asset.parent not in by_name:
            errors.append(
                f"asset {asset.name!r}: parent {asset.parent!r} is not a declared asset "
                "(declare the parent in the same list)"
            )
    for asset in assets:
        seen = {asset.name}
        current = asset
        while current.parent is not None and current.parent in by_name:
            if current.parent in seen:
                errors.append(f"asset {asset.name!r}: its parents form a loop")
                break
            seen.add(current.parent)
            current = by_name[current.parent]
    return errors


def creation_order(assets: list[DesiredAsset]) -> list[DesiredAsset]:
    """Parents before their children (input order otherwise kept)."""
    by_name = {a.name: a for a in assets}
    ordered: list[DesiredAsset] = []
    placed: set[str] = set()

    def place(asset: DesiredAsset) -> None:
        if asset.name in placed:
            return
        if asset.parent in by_name:
            place(by_name[asset.parent])
        placed.add(asset.name)
        ordered.append(asset)

    for asset in assets:
        place(asset)
    return ordered


# ------------------------------------------------------------------------------- difference
def _attributes(value: Any) -> dict:
    """FlexMeasures returns attributes as a JSON string (or null)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _resolution_seconds(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def merged_attributes(existing: dict, declared: dict) -> dict:
    """Declared keys win; keys FlexMeasures or people added elsewhere are kept."""
    merged = dict(existing)
    merged.update(declared)
    return merged


@dataclass
class Action:
    """One write the module would make. ``changes`` maps a field to (before, after)."""

    kind: str  # "asset" or "sensor"
    action: str  # "create", "update" or "delete"
    name: str
    id: int | None = None
    asset: str | None = None
    payload: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)
    rewrites_data: bool = False  # unit or resolution change, or delete: data would change meaning
    has_data: bool | None = None  # filled in by the module for rewrites_data actions

    def summary(self) -> dict:
        out: dict[str, Any] = {"action": self.action, "name": self.name}
        if self.id is not None:
            out["id"] = self.id
        if self.asset is not None and self.kind == "sensor":
            out["asset"] = self.asset
        if self.changes:
            out["changes"] = {k: {"before": b, "after": a} for k, (b, a) in self.changes.items()}
        if self.has_data is not None:
            out["has_data"] = self.has_data
        return out


@dataclass
class Plan:
    asset_actions: list[Action] = field(default_factory=list)
    sensor_actions: list[Action] = field(default_factory=list)
    asset_ids: dict = field(default_factory=dict)  # name -> id (None: not created yet)
    sensor_ids: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    @property
    def actions(self) -> list[Action]:
        return self.asset_actions + self.sensor_actions

    @property
    def changed(self) -> bool:
        return bool(self.asset_actions or self.sensor_actions)


def _sensor_view(unit, resolution, timezone, attributes, asset) -> dict:
    return {
        "asset": asset,
        "unit": unit,
        "event_resolution": resolution,
        "timezone": timezone,
        "attributes": attributes,
    }


def compute_plan(
    desired: list[DesiredAsset],
    existing_assets: list[dict],
    existing_sensors: list[dict],
    asset_types: dict[str, int] | None,
    prune: bool = False,
) -> Plan:
    """What must change so that FlexMeasures holds the declared assets and sensors.

    ``existing_assets`` and ``existing_sensors`` are the account's assets and sensors as the
    list endpoints return them; ``asset_types`` maps type names to ids (None when not listed,
    which is fine as long as no asset needs a type id).
    """
    plan = Plan()
    assets_by_id = {a["id"]: a for a in existing_assets}
    assets_by_name: dict[str, list[dict]] = {}
    for asset in existing_assets:
        assets_by_name.setdefault(asset["name"], []).append(asset)

    def parent_name(asset: dict) -> str | None:
        parent_id = asset.get("parent_asset_id")
        if parent_id is None:
            return None
        parent = assets_by_id.get(parent_id)
        return parent["name"] if parent else f"#{parent_id}"

    def type_name(asset: dict) -> str | None:
        asset_type = asset.get("generic_asset_type")
        if isinstance(asset_type, dict):
            return asset_type.get("name")
        return None

    # ---- assets: match by name (and by parent when names repeat in the account)
    matched_assets: dict[str, dict] = {}
    for want in desired:
        candidates = assets_by_name.get(want.name, [])
        if len(candidates) > 1:
            candidates = [c for c in candidates if parent_name(c) == want.parent]
        if len(candidates) > 1:
            ids = ", ".join(str(c["id"]) for c in candidates)
            plan.errors.append(
                f"asset {want.name!r} exists {len(candidates)} times in the account (ids {ids}) "
                "under the same parent; rename or remove the extra ones in FlexMeasures"
            )
            continue
        if candidates:
            matched_assets[want.name] = candidates[0]

    def type_id(name: str) -> int | None:
        if asset_types is None:
            return None
        if name not in asset_types:
            plan.errors.append(
                f"asset type {name!r} does not exist in FlexMeasures (known: "
                f"{', '.join(sorted(asset_types))}); run `flexmeasures add initial-structure` "
                "or pick a known type"
            )
            return None
        return asset_types[name]

    for want in creation_order(desired):
        view = {
            "asset_type": want.asset_type,
            "parent": want.parent,
            "latitude": want.latitude,
            "longitude": want.longitude,
            "attributes": want.attributes,
        }
        have = matched_assets.get(want.name)
        if have is None:
            plan.asset_ids[want.name] = None
            payload = {
                "name": want.name,
                "generic_asset_type_id": type_id(want.asset_type),
                "attributes": want.attributes,
            }
            if want.latitude is not None:
                payload["latitude"] = want.latitude
            if want.longitude is not None:
                payload["longitude"] = want.longitude
            plan.asset_actions.append(
                Action("asset", "create", want.name, payload=payload, changes={})
            )
            plan.after.setdefault("assets", {})[want.name] = view
            continue
        plan.asset_ids[want.name] = have["id"]
        have_attributes = _attributes(have.get("attributes"))
        before = {
            "asset_type": type_name(have),
            "parent": parent_name(have),
            "latitude": have.get("latitude"),
            "longitude": have.get("longitude"),
            "attributes": have_attributes,
        }
        changes: dict[str, tuple] = {}
        payload: dict[str, Any] = {}
        if type_name(have) != want.asset_type:
            changes["asset_type"] = (type_name(have), want.asset_type)
            payload["generic_asset_type_id"] = type_id(want.asset_type)
        if parent_name(have) != want.parent:
            changes["parent"] = (parent_name(have), want.parent)
        for key in ("latitude", "longitude"):
            wanted = getattr(want, key)
            if wanted is not None and (
                have.get(key) is None or abs(float(have[key]) - wanted) > 1e-9
            ):
                changes[key] = (have.get(key), wanted)
                payload[key] = wanted
        merged = merged_attributes(have_attributes, want.attributes)
        if merged != have_attributes:
            changes["attributes"] = (have_attributes, merged)
            payload["attributes"] = merged
        plan.before.setdefault("assets", {})[want.name] = before
        after = dict(before)
        after.update({k: v[1] for k, v in changes.items()})
        plan.after.setdefault("assets", {})[want.name] = after
        if changes:
            plan.asset_actions.append(
                Action("asset", "update", want.name, id=have["id"], payload=payload,
                       changes=changes)
            )  # fmt: skip

    # ---- sensors: match by name in the account, preferring the declared asset
    sensors_by_name: dict[str, list[dict]] = {}
    for sensor in existing_sensors:
        sensors_by_name.setdefault(sensor["name"], []).append(sensor)
    matched_sensor_ids: set[int] = set()
    for want_asset in desired:
        asset_id = plan.asset_ids.get(want_asset.name)
        for want in want_asset.sensors:
            candidates = sensors_by_name.get(want.name, [])
            on_asset = [c for c in candidates if asset_id is not None and
                        c.get("generic_asset_id") == asset_id]  # fmt: skip
            if len(on_asset) == 1:
                have = on_asset[0]
            elif len(on_asset) > 1 or (not on_asset and len(candidates) > 1):
                pool = on_asset or candidates
                ids = ", ".join(str(c["id"]) for c in pool)
                plan.errors.append(
                    f"sensor {want.name!r} exists {len(pool)} times in the account (ids {ids}); "
                    "the module cannot tell which one to keep: rename or remove the extra ones"
                )
                continue
            elif candidates:
                have = candidates[0]
                holder = assets_by_id.get(have.get("generic_asset_id"), {})
                plan.warnings.append(
                    f"sensor {want.name!r} (id {have['id']}) is kept on asset "
                    f"{holder.get('name', have.get('generic_asset_id'))!r}, not on the declared "
                    f"asset {want_asset.name!r}: FlexMeasures cannot move a sensor, and keeping "
                    "it keeps its id and data"
                )
            else:
                have = None
            view = _sensor_view(want.unit, want.event_resolution, want.timezone,
                                want.attributes, want_asset.name)  # fmt: skip
            if have is None:
                plan.sensor_ids[want.name] = None
                payload = {
                    "name": want.name,
                    "unit": want.unit,
                    "event_resolution": want.event_resolution,
                    "timezone": want.timezone,
                    "attributes": want.attributes,
                }
                plan.sensor_actions.append(
                    Action("sensor", "create", want.name, asset=want_asset.name, payload=payload)
                )
                plan.after.setdefault("sensors", {})[want.name] = view
                continue
            matched_sensor_ids.add(have["id"])
            plan.sensor_ids[want.name] = have["id"]
            holder = assets_by_id.get(have.get("generic_asset_id"), {})
            have_attributes = _attributes(have.get("attributes"))
            before = _sensor_view(have.get("unit"), have.get("event_resolution"),
                                  have.get("timezone"), have_attributes,
                                  holder.get("name", want_asset.name))  # fmt: skip
            changes = {}
            payload = {}
            if have.get("unit") != want.unit:
                changes["unit"] = (have.get("unit"), want.unit)
                payload["unit"] = want.unit
            if _resolution_seconds(have.get("event_resolution")) != want.resolution_seconds:
                changes["event_resolution"] = (have.get("event_resolution"), want.event_resolution)
                payload["event_resolution"] = want.event_resolution
            if have.get("timezone") != want.timezone:
                changes["timezone"] = (have.get("timezone"), want.timezone)
                payload["timezone"] = want.timezone
            merged = merged_attributes(have_attributes, want.attributes)
            if merged != have_attributes:
                changes["attributes"] = (have_attributes, merged)
                payload["attributes"] = merged
            plan.before.setdefault("sensors", {})[want.name] = before
            after = dict(before)
            after.update({k: v[1] for k, v in changes.items()})
            plan.after.setdefault("sensors", {})[want.name] = after
            if changes:
                plan.sensor_actions.append(
                    Action(
                        "sensor",
                        "update",
                        want.name,
                        id=have["id"],
                        asset=before["asset"],
                        payload=payload,
                        changes=changes,
                        rewrites_data="unit" in changes or "event_resolution" in changes,
                    )
                )

    if prune:
        _plan_prune(plan, desired, existing_assets, existing_sensors, matched_assets,
                    matched_sensor_ids, assets_by_id)  # fmt: skip
    return plan


def _plan_prune(plan, desired, existing_assets, existing_sensors, matched_assets,
                matched_sensor_ids, assets_by_id) -> None:  # fmt: skip
    """Undeclared sensors go; undeclared assets go unless they still hold something kept."""
    kept_asset_ids = {a["id"] for a in matched_assets.values()}
    # An undeclared asset stays when a kept sensor lives on it or a kept asset hangs below it.
    protected: set[int] = set()
    for sensor in existing_sensors:
        if sensor["id"] in matched_sensor_ids:
            protected.add(sensor.get("generic_asset_id"))
    for asset_id in list(kept_asset_ids | protected):
        current = assets_by_id.get(asset_id)
        while current is not None and current.get("parent_asset_id") is not None:
            protected.add(current["parent_asset_id"])
            current = assets_by_id.get(current["parent_asset_id"])
    for sensor in existing_sensors:
        if sensor["id"] in matched_sensor_ids:
            continue
        holder = assets_by_id.get(sensor.get("generic_asset_id"), {})
        plan.sensor_actions.append(
            Action("sensor", "delete", sensor["name"], id=sensor["id"],
                   asset=holder.get("name"), rewrites_data=True)
        )  # fmt: skip
        plan.before.setdefault("sensors", {})[sensor["name"]] = _sensor_view(
            sensor.get("unit"), sensor.get("event_resolution"), sensor.get("timezone"),
            _attributes(sensor.get("attributes")), holder.get("name"),
        )  # fmt: skip
    doomed = [a for a in existing_assets if a["id"] not in kept_asset_ids | protected]
    for asset in existing_assets:
        if asset["id"] in protected and asset["id"] not in kept_asset_ids:
            plan.warnings.append(
                f"asset {asset['name']!r} (id {asset['id']}) is not declared but is kept: it "
                "holds a declared sensor or a declared asset below it"
            )

    def depth(asset: dict) -> int:
        level, current = 0, asset
        while current.get("parent_asset_id") in assets_by_id and level < 100:
            level += 1
            current = assets_by_id[current["parent_asset_id"]]
        return level

    for asset in sorted(doomed, key=depth, reverse=True):  # children before parents
        plan.asset_actions.append(Action("asset", "delete", asset["name"], id=asset["id"]))
        plan.before.setdefault("assets", {})[asset["name"]] = {
            "asset_type": (asset.get("generic_asset_type") or {}).get("name"),
            "parent": assets_by_id.get(asset.get("parent_asset_id"), {}).get("name"),
        }
