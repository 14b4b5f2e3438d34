"""Memory at rest of the real VTN and VEN containers (a measurement, not a test).

    python -m tests.benchmark_containers VTN_IMAGE VEN_IMAGE

Runs both images on an internal Docker network made for the purpose (no route out, removed
afterwards), lets the VEN register and poll for 30 s, then reads `docker stats`. FlexMeasures is
not part of it: the VEN keeps its values in the outbox, as it would while FlexMeasures is down.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = f"cariflex-bench-{secrets.token_hex(3)}"


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


CONFIG = """
[vtn]
vtn_id = "CariflexVTN"
allowed_ven_names = ["cariflex-ven"]
environment = "development"
[vtn.prices]
source = "default_tariff"
[ven]
ven_name = "cariflex-ven"
vtn_url = "http://{vtn}:8080/OpenADR2/Simple/2.0b"
[flexmeasures]
url = "http://flexmeasures-server:5000"
email = "openadr-ven@digitribe.fr"
password_file = "/etc/cariflex-openadr/secrets/fm_password"
[flexmeasures.sensors]
consumption_price = 84
load_control_signal = 86
demand_response_signal = 87
[s2]
site_capacity_kw = 250
"""


def main(vtn_image: str, ven_image: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        (config_dir / "config.toml").write_text(CONFIG.format(vtn=f"{NAME}-vtn"))
        (config_dir / "secrets").mkdir()
        (config_dir / "secrets" / "fm_password").write_text("unused\n")
        for path in config_dir.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        config_dir.chmod(0o755)
        docker("network", "create", "--internal", NAME)
        try:
            for role, image in (("vtn", vtn_image), ("ven", ven_image)):
                docker(
                    "run",
                    "-d",
                    "--name",
                    f"{NAME}-{role}",
                    "--network",
                    NAME,
                    "-v",
                    f"{config_dir}:/etc/cariflex-openadr:ro",
                    image,
                )
            time.sleep(30)
            status = json.loads(docker("exec", f"{NAME}-vtn", "cariflex-vtn-events", "status"))
            vens = [v["ven_name"] for v in status["registered_vens"]]
            # `docker stats` reads 0 B on this machine's cgroup v1 setup: read the RSS of each
            # container's process from /proc instead.
            rss = {}
            for role in ("vtn", "ven"):
                pid = docker("inspect", "-f", "{{.State.Pid}}", f"{NAME}-{role}")
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss[role] = f"{int(line.split()[1]) / 1024:.1f} MB"
            health = {
                role: docker("inspect", "-f", "{{.State.Health.Status}}", f"{NAME}-{role}")
                for role in ("vtn", "ven")
            }
            print(f"registered VENs: {vens}; health: {health}")
            print(f"memory at rest (RSS of the container's process): {rss}")
        finally:
            for role in ("vtn", "ven"):
                docker("rm", "-f", f"{NAME}-{role}", check=False)
            docker("network", "rm", NAME, check=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
