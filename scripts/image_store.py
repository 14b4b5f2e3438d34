"""Pre-filled Docker image stores for the test hosts' nested engines.

Pulling the FlexMeasures image (1.9 GB) from the local registry costs every scenario that needs
it the same minute. Instead, the images a scenario lists in molecule/<scenario>/images.txt are
pulled once into a *store*: a Docker volume holding a nested engine's /var/lib/docker, built by a
throwaway test host and keyed by the images' recipe hashes (a changed image makes a new store).
Each run of the scenario then gets its own fresh copy of the store, so two engines never share one
live data directory and every run starts clean.

    python scripts/image_store.py prepare SCENARIO   print the volume spec for /var/lib/docker
                                                     (empty when the scenario lists no images)
    python scripts/image_store.py release SCENARIO   remove the scenario's copy
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "/var/lib/docker/.cariflex-store-complete"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


images_script = _load("images")
dev_host = _load("dev_host")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def wanted_images(scenario: str) -> list[str]:
    listing = ROOT / "molecule" / scenario / "images.txt"
    if not listing.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in listing.read_text().splitlines())
    return [line for line in lines if line]


def store_name(images: list[str], registry: str) -> str:
    manifest = images_script.load_manifest()
    digest = hashlib.sha256(registry.encode())
    for name in sorted(images):
        digest.update(f"{name}={images_script.recipe_hash(manifest, name)}\n".encode())
    return "cariflex-store-" + digest.hexdigest()[:16]


def store_complete(store: str) -> bool:
    if docker("volume", "inspect", store, check=False).returncode != 0:
        return False
    probe = docker(
        "run",
        "--rm",
        "-v",
        f"{store}:/var/lib/docker:ro",
        "cariflex-test/debian:12",
        "test",
        "-e",
        MARKER,
        check=False,
    )
    return probe.returncode == 0


def build_store(store: str, images: list[str], registry: str) -> None:
    builder = f"{store}-builder"
    docker("rm", "-f", "-v", builder, check=False)
    docker("volume", "rm", "-f", store, check=False)
    options = dev_host.platform_options(
        name=builder, image="cariflex-test/testhost-docker:12", docker_store=store, publish=False
    )
    # stdout carries the answer of `prepare`: progress goes to stderr.
    print(f"image-store: pulling {len(images)} image(s) into {store}", file=sys.stderr, flush=True)
    docker("run", "-d", "--name", builder, *options)
    try:
        inside = ["docker", "exec", builder]
        dev_host.wait_for_systemd(builder)
        subprocess.run(
            [
                *inside,
                "sh",
                "-c",
                f'echo \'{{"insecure-registries": ["{registry}"]}}\' '
                "> /etc/docker/daemon.json && systemctl restart docker",
            ],
            check=True,
        )
        for _ in range(60):
            if subprocess.run([*inside, "docker", "info"], capture_output=True).returncode == 0:
                break
            time.sleep(1)
        for image in images:
            subprocess.run(
                [*inside, "docker", "pull", "-q", f"{registry}/{image}"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        subprocess.run(
            [*inside, "systemctl", "stop", "docker.service", "docker.socket", "containerd.service"],
            check=True,
        )
        subprocess.run([*inside, "touch", MARKER], check=True)
    finally:
        docker("rm", "-f", builder, check=False)


def scenario_volume(scenario: str) -> str:
    return f"cariflex-{scenario}-docker"


def prepare(scenario: str) -> str:
    images = wanted_images(scenario)
    if not images:
        return ""
    registry = subprocess.run(
        [str(ROOT / "scripts" / "engine")], check=True, capture_output=True, text=True
    ).stdout.strip()
    store = store_name(images, registry)
    # Scenarios run side by side (make molecule JOBS=2): one builds a shared store, the other waits.
    lock_dir = Path(os.environ.get("CARIFLEX_CACHE", Path.home() / ".cache" / "cariflex"))
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{store}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not store_complete(store):
            build_store(store, images, registry)
    target = scenario_volume(scenario)
    docker("volume", "rm", "-f", target, check=False)
    docker("volume", "create", target)
    copy_store(mountpoint(store), mountpoint(target))
    return f"{target}:/var/lib/docker"


def mountpoint(volume: str) -> Path:
    return Path(docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip())


def copy_store(source: Path, target: Path) -> None:
    """Copy a stopped engine's store: image layers by hard link, everything else for real.

    The layers' contents (overlay2/<id>/diff) are never written once extracted: containers write
    to upper directories of their own, and removing a layer only unlinks. Linking them makes a
    copy of a 3 GB store take seconds. Every other file (image and layer databases, BoltDB files
    the engine rewrites in place) is copied, so the store itself is never changed by a test.
    `cp -a` keeps overlay2's whiteouts (device files) and trusted.* extended attributes.
    """
    for entry in sorted(source.iterdir()):
        if entry.name != "overlay2":
            subprocess.run(["cp", "-a", str(entry), str(target)], check=True)
    (target / "overlay2").mkdir(mode=0o710)
    for layer in sorted((source / "overlay2").iterdir()):
        if not layer.is_dir():
            subprocess.run(["cp", "-a", str(layer), str(target / "overlay2")], check=True)
            continue
        copied = target / "overlay2" / layer.name
        copied.mkdir()
        shutil.copystat(layer, copied)
        for item in layer.iterdir():
            flags = "-al" if item.name == "diff" else "-a"
            subprocess.run(["cp", flags, str(item), str(copied)], check=True)


def release(scenario: str) -> None:
    docker("volume", "rm", "-f", scenario_volume(scenario), check=False)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"prepare", "release"}:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "prepare":
        print(prepare(sys.argv[2]))
    else:
        release(sys.argv[2])
