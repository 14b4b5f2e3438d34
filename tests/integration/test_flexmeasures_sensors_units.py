"""The module's offline unit check must never accept a unit FlexMeasures 1.0.1 refuses.

The target of the module has no pint, so flexmeasures_sensors_diff restates which units
FlexMeasures accepts. This asks FlexMeasures' own is_valid_unit (in its venv) about every unit
that restatement accepts, in a broad generated sample.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

from tests.support.flexmeasures_local import ensure_venv

sys.path.insert(0, str(Path(REPO_ROOT / ".cache" / "collections")))
from ansible_collections.digitribe.cariflex.plugins.module_utils import (
    flexmeasures_sensors_diff as diff,
)

ASK_FLEXMEASURES = r"""
import json, sys
from flexmeasures.utils.unit_utils import is_valid_unit
print(json.dumps([u for u in json.load(sys.stdin) if not is_valid_unit(u)]))
"""


def sample_units() -> list[str]:
    singles = [p + s for p in ("", *diff.SI_PREFIXES) for s in diff.PREFIXABLE_UNITS]
    singles += ["k" + c for c in sorted(diff.CURRENCIES)] + sorted(diff.CURRENCIES)
    singles += [s + e for s in ("m", "km", "W", "kWh") for e in ("²", "³", "**2", "^3")]
    singles += list(diff.PLAIN_UNITS) + list(diff.STANDALONE_UNITS) + ["1"]
    common = ["kW", "kWh", "EUR", "MWh", "h", "m²", "%", "s", "m³", "dimensionless"]
    pairs = [f"{a}{op}{b}" for a, b in itertools.product(common, repeat=2) for op in ("/", "*")]
    pairs += ["kW / m²", "EUR/MWh/h", "kW·h"]
    candidates = singles + pairs + ["kvar", "VAh", "°C/h", "m2", "kilowatts", "KW"]
    return [u for u in candidates if diff.is_valid_unit(u)]


def test_every_unit_the_module_accepts_is_accepted_by_flexmeasures():
    accepted = sample_units()
    assert len(accepted) > 1000
    venv = ensure_venv()
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", ASK_FLEXMEASURES],
        input=json.dumps(accepted),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    refused_by_flexmeasures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert refused_by_flexmeasures == []


def test_default_data_units_are_accepted_by_both():
    from test_flexmeasures_sensors import default_assets

    units = sorted({s["unit"] for a in default_assets() for s in a["sensors"]})
    assert all(diff.is_valid_unit(u) for u in units)
    venv = ensure_venv()
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", ASK_FLEXMEASURES],
        input=json.dumps(units),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
