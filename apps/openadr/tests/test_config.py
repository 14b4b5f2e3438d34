"""The configuration file the Ansible role templates: every section parses, bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cariflex_openadr.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.toml"


def test_example_config_parses() -> None:
    config = load_config(str(EXAMPLE))
    assert config.vtn.vtn_id == "CariflexVTN"
    assert config.vtn.poll_interval_seconds == 10
    assert config.flexmeasures.sensor_id("consumption_price") == 84
    assert [r.resource_id for r in config.s2.resources][:2] == ["battery_01", "battery_02"]
    assert config.s2.dr_levels[3].discharge_share == 0.5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"vtn": {"vtn_id": "cariflexvtn"}}, "uppercase"),
        ({"vtn": {"colour": "red"}}, "unknown key"),
        ({"ven": {"opt_policy": {"LOAD_CONTROL": "maybe"}}}, "optIn"),
        ({"flexmeasures": {"sensors": {"consumption_price": "84"}}}, "integer ids"),
        (
            {
                "s2": {
                    "resources": [
                        {"id": "b", "min_power_kw": 5, "max_power_kw": 50, "token_file": "/x"}
                    ]
                }
            },
            "include 0 kW",
        ),
        ({"s2": {"dr_levels": {"1": {"consumption_share": 2, "discharge_share": 0}}}}, "0..1"),
        ({"s2": {"soc_sample_seconds": 90}}, "multiple of 60"),
        ({"s2": {"soc_sample_seconds": 0}}, "multiple of 60"),
        ({"grafana": {}}, "unknown section"),
    ],
)
def test_bad_config_is_refused_with_a_reason(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    from cariflex_openadr.config import read_secret

    with pytest.raises(ConfigError, match="nope"):
        read_secret(str(tmp_path / "nope"))
