"""Benchmark: digitribe.cariflex.flexmeasures_sensors against a loop of ansible.builtin.uri tasks.

Both seed the collection's default assets and sensors (roles/flexmeasures/defaults/main) into a
fresh account of a real FlexMeasures 1.0.1 on loopback (tests/support/flexmeasures_local.py),
once cold (empty account) and then warm (everything already there). Times are wall-clock seconds
of the whole `ansible-playbook` process, start-up included; requests are counted by the server.

Run from the repository root, with the toolchain venv:  make bench-flexmeasures-sensors
(or: .venv/bin/python benchmarks/flexmeasures_sensors/bench.py --warm-runs 5)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.flexmeasures_local import FlexMeasuresLocal  # noqa: E402

PLAYBOOKS = {"module": HERE / "module.yml", "uri loop": HERE / "uri_loop.yml"}


TASK_TIME = re.compile(r"^(?P<task>.+?) -+ (?P<seconds>\d+\.\d+)s$", re.MULTILINE)


def run_playbook(playbook: Path, variables: Path, inventory: Path) -> tuple[float, float]:
    """Wall-clock seconds of ansible-playbook, and seconds spent in the seeding tasks."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".cache" / "collections"),
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
    )
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", str(inventory), str(playbook), "-e", f"@{variables}",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{playbook.name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    tasks = sum(
        float(m["seconds"]) for m in TASK_TIME.finditer(proc.stdout) if m["task"] != "Report"
    )
    return elapsed, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", choices=sorted(PLAYBOOKS), help="measure one side only")
    options = parser.parse_args()
    link = REPO_ROOT / ".cache/collections/ansible_collections/digitribe/cariflex"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../../.."))

    figures = {}
    with FlexMeasuresLocal.start() as fm, tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory"
        inventory.write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        for name, playbook in PLAYBOOKS.items():
            if options.only and name != options.only:
                continue
            status, account = fm.api(
                "POST",
                "/api/v3_0/accounts",
                {"name": f"bench-{uuid.uuid4().hex[:6]}"},
                token=fm.token(),
            )
            assert status == 201, account
            variables = Path(tmp) / f"{account['id']}.json"
            variables.write_text(
                json.dumps(
                    {
                        "fm_url": fm.url,
                        "fm_user": fm.admin_email,
                        "fm_password": fm.admin_password,
                        "fm_account": str(account["id"]),
                    }
                )
            )
            variables.chmod(0o600)
            mark = fm.access_log_mark()
            cold, cold_tasks = run_playbook(playbook, variables, inventory)
            cold_requests = len(fm.requests_since(mark))
            warm, warm_tasks, warm_requests = [], [], []
            for _ in range(options.warm_runs):
                mark = fm.access_log_mark()
                wall, tasks = run_playbook(playbook, variables, inventory)
                warm.append(wall)
                warm_tasks.append(tasks)
                warm_requests.append(len(fm.requests_since(mark)))
            figures[name] = {
                "cold_s": round(cold, 2),
                "cold_tasks_s": round(cold_tasks, 2),
                "cold_requests": cold_requests,
                "warm_median_s": round(statistics.median(warm), 2),
                "warm_tasks_median_s": round(statistics.median(warm_tasks), 2),
                "warm_runs_s": [round(w, 2) for w in warm],
                "warm_requests": warm_requests[-1],
                "load_average_1m": round(os.getloadavg()[0], 1),
            }
            print(name, figures[name], flush=True)

    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")
    if len(figures) < 2:
        return
    module, loop = figures["module"], figures["uri loop"]
    print()
    print("| run | module | uri loop | speed-up |")
    print("| --- | --- | --- | --- |")
    rows = (
        ("cold_s", "cold, ansible-playbook wall time"),
        ("cold_tasks_s", "cold, seeding tasks only"),
        ("warm_median_s", "warm, ansible-playbook wall time (median)"),
        ("warm_tasks_median_s", "warm, seeding tasks only (median)"),
    )
    for key, label in rows:
        print(f"| {label} | {module[key]} s | {loop[key]} s | {loop[key] / module[key]:.1f}x |")
    print(
        f"| HTTP requests cold / warm | {module['cold_requests']} / {module['warm_requests']} "
        f"| {loop['cold_requests']} / {loop['warm_requests']} | |"
    )
    print(f"\nload average at the end: {os.getloadavg()}, CPUs: {os.cpu_count()}")


if __name__ == "__main__":
    main()
