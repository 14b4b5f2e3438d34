"""Sign conventions of FlexMeasures power sensors: the sensor's attribute wins over the config."""

from __future__ import annotations

from typing import Any

from cariflex_openadr.ven.sign_conventions import SignConventions, attribute_says


class FakeFlexMeasuresClient:
    """A stand-in for FlexMeasuresClient.request: answers GET /api/v3_0/sensors/<id>."""

    def __init__(self, sensors: dict[int, dict[str, Any]]) -> None:
        self.sensors = sensors

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        sensor_id = int(path.rsplit("/", 1)[1])
        if sensor_id not in self.sensors:
            return 404, {}
        return 200, self.sensors[sensor_id]


def test_attribute_parsing() -> None:
    assert attribute_says({"attributes": '{"consumption_is_positive": true}'}) is True
    assert attribute_says({"attributes": {"consumption_is_positive": True}}) is True
    assert attribute_says({"attributes": "{}"}) is False  # FlexMeasures' default
    assert attribute_says({}) is False


async def test_sensor_attribute_wins_over_configuration() -> None:
    signs = SignConventions({"bat_power": False, "ev_power": True, "gone_power": True})
    # Until FlexMeasures answered: the configuration.
    assert signs.to_flexmeasures("bat_power", 10.0) == -10.0
    client = FakeFlexMeasuresClient(
        {1: {"attributes": '{"consumption_is_positive": true}'}, 2: {"attributes": "{}"}}
    )
    await signs.learn(client, {"bat_power": 1, "ev_power": 2, "gone_power": 3})  # type: ignore[arg-type]
    assert signs.complete
    assert signs.to_flexmeasures("bat_power", 10.0) == 10.0
    assert signs.to_flexmeasures("ev_power", 10.0) == -10.0
    assert signs.to_flexmeasures("gone_power", 10.0) == 10.0  # 404: the configuration stays
