"""Latency and memory figures for BENCHMARKS.md (a measurement, not a test). Loopback only.

    make openadr-apps-benchmark        # or: cd apps/openadr && python -m tests.benchmark

1. Event created at the VTN (operator API) -> value readable from FlexMeasures' API, with the
   production poll interval (10 s), VTN and VEN in one asyncio loop, real FlexMeasures.
2. VEN receipt of the event (openleadr hands it to us) -> last S2 FRBC.Instruction sent to the
   10 seed RMs (s2-python clients on WebSocket).
3. Memory at rest (VmRSS) of the VTN and of the VEN, each run as its container entrypoint
   (`python -m cariflex_openadr.vtn` / `.ven`) in its own process, 20 s after start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from cariflex_openadr.config import Config

from .conftest import SEED_RESOURCES, VEN_EMAIL, FlexMeasuresSite, _load_flexmeasures_local
from .loopback import Site, site_config, wait_for

ROUNDS = 6


async def _visible(
    http: aiohttp.ClientSession, fm: FlexMeasuresSite, token: str, start: datetime, expected: float
) -> None:
    url = f"{fm.stack.url}/api/v3_0/sensors/{fm.sensors['load_control_signal']}/data"
    params = {"start": start.isoformat(), "duration": "PT15M", "unit": "%"}
    while True:
        async with http.get(url, params=params, headers={"Authorization": token}) as reply:
            body = await reply.json()
            values = body.get("values") if reply.status == 200 else None
            if values and values[0] is not None and abs(values[0] - expected) < 1e-6:
                return
        await asyncio.sleep(0.05)


async def latency(fm: FlexMeasuresSite, workdir: Path) -> dict[str, list[float]]:
    tokens = workdir / "tokens"
    tokens.mkdir()
    for resource_id, _, _ in SEED_RESOURCES:
        (tokens / resource_id).write_text(secrets.token_urlsafe(24))
    config = site_config(
        workdir,
        tokens,
        fm_url=fm.stack.url,
        fm_email=VEN_EMAIL,
        password_file=fm.password_file,
        sensors=fm.sensors,
        poll_seconds=10,
    )
    site = Site(config)
    to_flexmeasures, to_s2 = [], []
    try:
        await site.start_vtn()
        ven = await site.start_ven()
        await wait_for(lambda: ven.registered, what="registration")
        rms = await site.connect_rms(initial_power_kw=20.0)
        await wait_for(lambda: ven.outbox.pending() == 0, what="price event delivered")
        token = fm.stack.token()
        now = datetime.now(UTC)
        # On the sensor's 15-minute grid, two days ahead: a window no other round touched.
        base = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        base += timedelta(days=2)
        async with aiohttp.ClientSession() as http:
            for n in range(ROUNDS):
                # Land at a random phase of the VEN's poll cycle.
                await asyncio.sleep(random.uniform(0, 10))
                start = base + timedelta(hours=n)
                share = round(0.1 + 0.1 * n, 2)
                before = [len(rm.instructions) for rm in rms]
                created_at = time.perf_counter()
                # Starting now: the S2 side acts on it at once. The FM window is a separate,
                # future one so that each round's value is new to FlexMeasures.
                created = await site.admin(
                    "POST",
                    "/events",
                    {"kind": "load_control", "value": share, "duration_minutes": 60},
                )
                await site.admin(
                    "POST",
                    "/events",
                    {
                        "kind": "load_control",
                        "value": share,
                        "start": start.isoformat(),
                        "duration_minutes": 15,
                    },
                )
                await asyncio.wait_for(_visible(http, fm, token, start, share * 100), 120)
                to_flexmeasures.append(time.perf_counter() - created_at)
                print(
                    f"round {n + 1}/{ROUNDS}: {to_flexmeasures[-1]:.3f} s to FlexMeasures",
                    flush=True,
                )
                await wait_for(
                    lambda b=before: all(
                        len(rm.instructions) > c for rm, c in zip(rms, b, strict=True)
                    )
                )
                assert ven.s2.last_sent_at is not None
                to_s2.append(ven.s2.last_sent_at - ven.received_at[created["event_id"]])
                await site.admin("DELETE", f"/events/{created['event_id']}")
    finally:
        await site.close()
    return {"created_to_flexmeasures_s": to_flexmeasures, "ven_receipt_to_s2_s": to_s2}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def memory(fm: FlexMeasuresSite, workdir: Path) -> dict[str, float]:
    tokens = workdir / "mem-tokens"
    tokens.mkdir()
    for resource_id, _, _ in SEED_RESOURCES:
        (tokens / resource_id).write_text(secrets.token_urlsafe(24))
    (workdir / "mem").mkdir()
    config = site_config(
        workdir / "mem",
        tokens,
        fm_url=fm.stack.url,
        fm_email=VEN_EMAIL,
        password_file=fm.password_file,
        sensors=fm.sensors,
        poll_seconds=10,
    )
    config_file = workdir / "mem" / "config.toml"
    config_file.write_text(_toml(config))
    env = {
        **os.environ,
        "CARIFLEX_OPENADR_CONFIG": str(config_file),
        "CARIFLEX_OPENADR_LOG_LEVEL": "WARNING",
    }
    cwd = str(Path(__file__).resolve().parents[1])
    processes = {}
    try:
        for name in ("vtn", "ven"):
            processes[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"cariflex_openadr.{name}", env=env, cwd=cwd
            )
            await asyncio.sleep(2)
        await asyncio.sleep(20)
        return {f"{name}_rss_mb": round(_rss_mb(p.pid), 1) for name, p in processes.items()}
    finally:
        for process in processes.values():
            process.terminate()
            await process.wait()


def _toml(config: Config) -> str:
    """The benchmark's own config file, in the format of examples/config.toml."""
    vtn, ven, fm, s2 = config.vtn, config.ven, config.flexmeasures, config.s2
    lines = [
        "[vtn]",
        f'vtn_id = "{vtn.vtn_id}"',
        'listen_host = "127.0.0.1"',
        f"listen_port = {vtn.listen_port}",
        f"admin_port = {vtn.admin_port}",
        f"poll_interval_seconds = {vtn.poll_interval_seconds}",
        f"allowed_ven_names = {json.dumps(list(vtn.allowed_ven_names))}",
        f'state_dir = "{vtn.state_dir}"',
        'environment = "development"',
        "[vtn.prices]",
        'source = "default_tariff"',
        "[ven]",
        f'ven_name = "{ven.ven_name}"',
        f'vtn_url = "{ven.vtn_url}"',
        f'state_dir = "{ven.state_dir}"',
        "[flexmeasures]",
        f'url = "{fm.url}"',
        f'email = "{fm.email}"',
        f'password_file = "{fm.password_file}"',
        "[flexmeasures.sensors]",
        *[f"{k} = {v}" for k, v in fm.sensors.items()],
        "[s2]",
        'listen_host = "127.0.0.1"',
        f"listen_port = {s2.listen_port}",
        f"site_capacity_kw = {s2.site_capacity_kw}",
    ]
    for r in s2.resources:
        lines += [
            "[[s2.resources]]",
            f'id = "{r.resource_id}"',
            f"min_power_kw = {r.min_power_kw}",
            f"max_power_kw = {r.max_power_kw}",
            f'token_file = "{r.token_file}"',
            f'soc_sensor = "{r.soc_sensor}"',
            f'power_sensor = "{r.power_sensor}"',
        ]
    return "\n".join(lines) + "\n"


def _summary(values: list[float]) -> str:
    return (
        f"min {min(values):.3f} s, median {statistics.median(values):.3f} s, "
        f"max {max(values):.3f} s (n={len(values)})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()
    # A SIGTERM (timeout, CI) still runs the finally below, which stops the FlexMeasures stack.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    module = _load_flexmeasures_local()
    stack = module.FlexMeasuresLocal.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fm = FlexMeasuresSite(stack, Path(tmp))
            figures: dict[str, object] = dict(await latency(fm, Path(tmp)))
            figures.update(await memory(fm, Path(tmp)))
    finally:
        stack.close()
    print(
        "event created at VTN -> value in FlexMeasures:",
        _summary(figures["created_to_flexmeasures_s"]),
    )  # type: ignore[arg-type]
    print("VEN receipt -> S2 instructions sent (10 RMs):", _summary(figures["ven_receipt_to_s2_s"]))  # type: ignore[arg-type]
    print(f"memory at rest: VTN {figures['vtn_rss_mb']} MB, VEN {figures['ven_rss_mb']} MB (RSS)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
