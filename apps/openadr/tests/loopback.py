"""A whole site on 127.0.0.1 in one asyncio loop: VTN, VEN with its S2 service, RMs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from cariflex_openadr.config import Config, parse_config
from cariflex_openadr.s2.rm_client import ResourceManager
from cariflex_openadr.ven.app import VEN
from cariflex_openadr.vtn.prices import price_loader
from cariflex_openadr.vtn.server import VTN

from .conftest import SEED_RESOURCES, free_port

VEN_NAME = "cariflex-ven"
SITE_CAPACITY_KW = 200.0


def site_config(
    tmp_path: Path,
    token_dir: Path,
    *,
    fm_url: str = "http://127.0.0.1:9",
    fm_email: str = "openadr-ven@digitribe.fr",
    password_file: Path | None = None,
    sensors: dict[str, int] | None = None,
    ven_name: str = VEN_NAME,
    poll_seconds: int = 1,
    prices: dict[str, Any] | None = None,
) -> Config:
    if password_file is None:
        password_file = tmp_path / "fm_password"
        password_file.write_text("unused\n")
    vtn_port, admin_port, s2_port = free_port(), free_port(), free_port()
    return parse_config(
        {
            "vtn": {
                "vtn_id": "CariflexVTN",
                "listen_host": "127.0.0.1",
                "listen_port": vtn_port,
                "admin_port": admin_port,
                "poll_interval_seconds": poll_seconds,
                "allowed_ven_names": [VEN_NAME],
                "state_dir": str(tmp_path / "vtn-state"),
                "environment": "development",
                "prices": prices or {"source": "default_tariff"},
            },
            "ven": {
                "ven_name": ven_name,
                "vtn_url": f"http://127.0.0.1:{vtn_port}/OpenADR2/Simple/2.0b",
                "state_dir": str(tmp_path / "ven-state"),
                "register_retry_seconds": 0.5,
            },
            "flexmeasures": {
                "url": fm_url,
                "email": fm_email,
                "password_file": str(password_file),
                "timeout_seconds": 5,
                "retry_seconds": 0.5,
                "sensors": sensors
                or {
                    "consumption_price": 84,
                    "load_control_signal": 86,
                    "demand_response_signal": 87,
                },
            },
            "s2": {
                "listen_host": "127.0.0.1",
                "listen_port": s2_port,
                "site_capacity_kw": SITE_CAPACITY_KW,
                "resources": [
                    {
                        "id": resource_id,
                        "min_power_kw": low,
                        "max_power_kw": high,
                        "token_file": str(token_dir / resource_id),
                        "soc_sensor": f"{resource_id}_soc",
                        "power_sensor": f"{resource_id}_power",
                    }
                    for resource_id, low, high in SEED_RESOURCES
                ],
            },
        }
    )


async def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


class Site:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.vtn: VTN | None = None
        self.ven: VEN | None = None
        self.rms: list[ResourceManager] = []

    async def start_vtn(self) -> VTN:
        loader = price_loader(self.config.vtn.prices, self.config.vtn.environment)
        self.vtn = VTN(self.config.vtn, loader)
        await self.vtn.start()
        return self.vtn

    async def stop_vtn(self) -> None:
        if self.vtn is not None:
            await self.vtn.stop()
            self.vtn = None

    async def start_ven(self) -> VEN:
        self.ven = VEN(self.config)
        await self.ven.start()
        return self.ven

    async def stop_ven(self) -> None:
        if self.ven is not None:
            await self.ven.stop()
            self.ven = None

    async def connect_rms(self, initial_power_kw: float = 0.0) -> list[ResourceManager]:
        s2 = self.config.s2
        for resource in s2.resources:
            rm = ResourceManager(
                resource_id=resource.resource_id,
                url=f"ws://127.0.0.1:{s2.listen_port}{s2.path}/{resource.resource_id}",
                token=Path(resource.token_file).read_text().strip(),
                min_power_kw=resource.min_power_kw,
                max_power_kw=resource.max_power_kw,
                initial_power_kw=initial_power_kw
                if resource.max_power_kw >= initial_power_kw
                else resource.max_power_kw,
            )
            await rm.connect()
            self.rms.append(rm)
        assert self.ven is not None
        service = self.ven.s2
        await wait_for(
            lambda: len(service.status()["ready"]) == len(s2.resources), what="RMs ready"
        )
        return self.rms

    async def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"http://127.0.0.1:{self.config.vtn.admin_port}{path}"
        async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as reply:
            text = await reply.text()
            assert reply.status < 300, f"{method} {path}: {reply.status} {text}"
            return await reply.json()

    async def close(self) -> None:
        for rm in self.rms:
            await rm.close()
        if self.ven is not None:
            await self.ven.stop()
        await self.stop_vtn()
