"""Build the harness's images from images/images.yml, rebuilding only what changed, and push them
to the local registry the test hosts' nested engines pull from.

    python scripts/images.py build [NAME ...]     build NAME and what it builds on (default: all)
    python scripts/images.py push REGISTRY [NAME ...]
    python scripts/images.py hash NAME            print an image's recipe hash

An image is rebuilt when its recipe hash changes: the hash covers every file in its recipe folder,
its build arguments and the hashes of the images it builds on. The hash is stored as a label on
the image, so a second run on the same machine finds it and builds nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = ROOT / "images"
LABEL = "fr.digitribe.cariflex.recipe"
CA_BUNDLE = Path(os.environ.get("CARIFLEX_BUILD_CA", "/etc/ssl/certs/ca-certificates.crt"))
CACHE = Path(os.environ.get("CARIFLEX_CACHE", Path.home() / ".cache" / "cariflex"))


@dataclass
class Image:
    name: str
    dir: str
    parent: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    debootstrap: bool = False
    push: bool = True

    @property
    def dependencies(self) -> list[str]:
        names = [self.parent] if self.parent else []
        return names + [value for value in self.args.values() if "/" in value and ":" in value]


def load_manifest(path: Path = IMAGES_DIR / "images.yml") -> dict[str, Image]:
    data = yaml.safe_load(path.read_text())
    images: dict[str, Image] = {}
    for entry in data["images"]:
        image = Image(**entry)
        for dependency in image.dependencies:
            if dependency not in images:
                raise SystemExit(
                    f"{path}: {image.name} builds on {dependency}, listed after it or missing"
                )
        images[image.name] = image
    return images


def files_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
    return digest.hexdigest()


def recipe_hash(images: dict[str, Image], name: str) -> str:
    image = images[name]
    digest = hashlib.sha256()
    digest.update(files_digest(IMAGES_DIR / image.dir).encode())
    for key in sorted(image.args):
        digest.update(f"{key}={image.args[key]}\n".encode())
    for dependency in image.dependencies:
        digest.update(recipe_hash(images, dependency).encode())
    return digest.hexdigest()[:20]


def build_order(images: dict[str, Image], wanted: list[str]) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in images:
            raise SystemExit(f"unknown image {name!r}; known: {', '.join(images)}")
        for dependency in images[name].dependencies:
            visit(dependency)
        if name not in order:
            order.append(name)

    for name in wanted:
        visit(name)
    return order


def docker() -> str:
    # The engine's own client (Debian's docker.io) builds with BuildKit without the buildx plugin.
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def current_hash(name: str) -> str | None:
    result = subprocess.run(
        [docker(), "image", "inspect", "-f", f'{{{{ index .Config.Labels "{LABEL}" }}}}', name],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build_debootstrap(image: Image, wanted_hash: str) -> None:
    recipe = dict(
        line.split("=", 1)
        for line in (IMAGES_DIR / image.dir / "recipe.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    tarball = CACHE / f"debian-{recipe['SUITE']}-{wanted_hash}.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            root = Path(tmp) / "root"
            print(f"images: debootstrap {recipe['SUITE']} (cached at {tarball})", flush=True)
            run(
                "debootstrap",
                f"--variant={recipe['VARIANT']}",
                f"--include={recipe['INCLUDE']}",
                recipe["SUITE"],
                str(root),
                recipe["MIRROR"],
                stdout=subprocess.DEVNULL,
            )
            # Leave the package lists out: every image runs apt-get update before installing.
            shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
            (root / "var/lib/apt/lists/partial").mkdir(parents=True)
            partial = tarball.with_suffix(".partial")
            run("tar", "-C", str(root), "-cf", str(partial), ".")
            partial.rename(tarball)
    with tarball.open("rb") as stream:
        run(
            docker(),
            "import",
            "-c",
            f"LABEL {LABEL}={wanted_hash}",
            "-c",
            'CMD ["bash"]',
            "-",
            image.name,
            stdin=stream,
            stdout=subprocess.DEVNULL,
        )


def build_dockerfile(image: Image, wanted_hash: str) -> None:
    command = [
        docker(),
        "build",
        "--progress=plain",
        "--label",
        f"{LABEL}={wanted_hash}",
        "-t",
        image.name,
    ]
    if image.parent:
        command += ["--build-arg", f"BASE_IMAGE={image.parent}"]
    for key, value in image.args.items():
        command += ["--build-arg", f"{key}={value}"]
    if CA_BUNDLE.exists():
        command += ["--secret", f"id=ca,src={CA_BUNDLE}"]
    command.append(str(IMAGES_DIR / image.dir))
    log = CACHE / "build-logs" / (image.name.replace("/", "_").replace(":", "_") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        result = subprocess.run(
            command,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
        )
    if result.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"images: building {image.name} failed; full log in {log}")


def build(images: dict[str, Image], wanted: list[str]) -> None:
    for name in build_order(images, wanted or list(images)):
        image = images[name]
        wanted_hash = recipe_hash(images, name)
        if current_hash(name) == wanted_hash:
            print(f"images: {name} is up to date", flush=True)
            continue
        print(f"images: building {name} ({wanted_hash})", flush=True)
        if image.debootstrap:
            build_debootstrap(image, wanted_hash)
        else:
            build_dockerfile(image, wanted_hash)


def push(images: dict[str, Image], registry: str, wanted: list[str]) -> None:
    if not registry or "/" in registry:
        sys.exit(f"images: push needs a registry host:port (scripts/engine), not {registry!r}")
    for name in build_order(images, wanted or list(images)):
        if not images[name].push:
            continue
        target = f"{registry}/{name}"
        if current_hash(target) == current_hash(name) and registry_has(registry, name):
            continue
        run(docker(), "tag", name, target)
        print(f"images: pushing {target}", flush=True)
        run(docker(), "push", "--quiet", target, stdout=subprocess.DEVNULL)


def registry_has(registry: str, name: str) -> bool:
    repository, tag = name.rsplit(":", 1)
    result = subprocess.run(
        [
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "-m",
            "5",
            "-I",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            f"http://{registry}/v2/{repository}/manifests/{tag}",
        ],
        capture_output=True,
    )
    return result.returncode == 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"build", "push", "hash"}:
        print(__doc__, file=sys.stderr)
        return 2
    images = load_manifest()
    if argv[0] == "build":
        build(images, argv[1:])
    elif argv[0] == "push":
        if len(argv) < 2:
            raise SystemExit("images: push needs the registry address (scripts/engine prints it)")
        push(images, argv[1], argv[2:])
    else:
        print(recipe_hash(images, argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
