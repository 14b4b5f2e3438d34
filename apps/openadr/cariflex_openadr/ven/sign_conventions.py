"""Which FlexMeasures power sensors count consumption as positive.

S2 counts consumption as positive; a FlexMeasures sensor says its own convention with the
attribute `consumption_is_positive` (absent means false, FlexMeasures' default). What
FlexMeasures says wins; the configuration (`power_sensor_consumption_is_positive`) holds until
FlexMeasures has been asked, for instance while it is down at start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cariflex_openadr.units import s2_power_to_flexmeasures
from cariflex_openadr.ven.flexmeasures import FlexMeasuresClient

log = logging.getLogger(__name__)


def attribute_says(sensor: dict[str, Any]) -> bool:
    attributes = sensor.get("attributes") or {}
    if isinstance(attributes, str):
        attributes = json.loads(attributes or "{}")
    return bool(attributes.get("consumption_is_positive", False))


class SignConventions:
    def __init__(self, configured: dict[str, bool]) -> None:
        self._configured = dict(configured)
        self._learned: dict[str, bool] = {}

    @property
    def power_sensors(self) -> set[str]:
        return set(self._configured)

    @property
    def complete(self) -> bool:
        return set(self._learned) >= set(self._configured)

    def consumption_is_positive(self, sensor_name: str) -> bool:
        return self._learned.get(sensor_name, self._configured.get(sensor_name, False))

    def to_flexmeasures(self, sensor_name: str, s2_power_kw: float) -> float:
        return s2_power_to_flexmeasures(s2_power_kw, self.consumption_is_positive(sensor_name))

    async def learn(self, client: FlexMeasuresClient, sensor_ids: dict[str, int]) -> None:
        """Ask FlexMeasures for each power sensor still unknown; raises while it is down."""
        for name in sorted(set(self._configured) - set(self._learned)):
            sensor_id = sensor_ids.get(name)
            if sensor_id is None:
                self._learned[name] = self._configured[name]
                continue
            status, body = await client.request("GET", f"/api/v3_0/sensors/{sensor_id}")
            if status != 200:
                log.warning("cannot read sensor %s (%s): HTTP %s", name, sensor_id, status)
                self._learned[name] = self._configured[name]
                continue
            said = attribute_says(body)
            if said != self._configured[name]:
                log.warning(
                    "sensor %s says consumption_is_positive=%s, the configuration %s: using %s",
                    name,
                    said,
                    self._configured[name],
                    said,
                )
            self._learned[name] = said
