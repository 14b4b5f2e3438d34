"""The disposable local dev host of `make up`: a systemd container like the Molecule test hosts.

    scripts/dev_host.py up      start (or reuse) cariflex-dev, start its local ACME server
                             (playbooks/local-acme.yml), converge site.yml -i inventories/dev,
                             then print where each service answers and the health summary
    scripts/dev_host.py down    remove the dev host and its Docker store

The host's container options come from the Molecule base config (.config/molecule/config.yml), so
the dev host and the test hosts cannot drift apart. Its HTTP(S) ports are published on loopback
only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NAME = "cariflex-dev"
IMAGE = os.environ.get("CARIFLEX_DEV_IMAGE", "cariflex-test/testhost:12")
# Loopback only: the dev host is reachable from this machine and nowhere else.
PUBLISHED = {
    "80": os.environ.get("CARIFLEX_DEV_HTTP", "8080"),
    "443": os.environ.get("CARIFLEX_DEV_HTTPS", "8443"),
}


class DockerFailed(SystemExit):
    """A docker command that failed, with docker's own words (not a Python traceback)."""


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], check=False, capture_output=True, text=True)
    if check and result.returncode != 0:
        said = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise DockerFailed(f"dev-host: `docker {args[0]}` failed: {said}")
    return result


@contextlib.contextmanager
def only_one(action: str) -> Iterator[None]:
    """One `make up` or `make down` at a time on this machine: there is one cariflex-dev per
    engine, and two runs converging or removing it together break each other."""
    cache = Path(os.environ.get("CARIFLEX_CACHE", Path.home() / ".cache" / "cariflex"))
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "dev-host.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another run"
            raise SystemExit(
                f"dev-host: {holder} is already working on {NAME}; wait for it to end"
                f" (or stop it), then run `make {action}` again"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"`make {action}` (pid {os.getpid()})")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()


def platform_options(
    name: str = NAME, image: str = IMAGE, docker_store: str | None = None, publish: bool = True
) -> list[str]:
    """`docker run` options of a test host, from the Molecule base config's platform."""
    config = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    platform = config["platforms"][0]
    options = ["--cgroupns", platform["cgroupns_mode"], "--hostname", name]
    # Its /var/lib/docker: a given volume, or an anonymous one that goes with the container.
    options += ["-v", f"{docker_store}:/var/lib/docker" if docker_store else "/var/lib/docker"]
    for volume in platform.get("volumes", []):
        if "/var/lib/docker" not in volume:
            options += ["-v", volume]
    for tmpfs in platform.get("tmpfs", []):
        options += ["--tmpfs", tmpfs]
    for security_opt in platform.get("security_opts", []):
        options += ["--security-opt", security_opt]
    for device in platform.get("devices", []):
        options += ["--device", device]
    for capability in platform.get("capabilities", []):
        options += ["--cap-add", capability]
    if publish:
        for inside, outside in PUBLISHED.items():
            options += ["-p", f"127.0.0.1:{outside}:{inside}"]
    return [*options, image, *platform["command"].split()]


def wait_for_systemd(container: str, timeout: float = 120) -> None:
    """Until systemd in the container has booted (its bus may not exist for the first moments)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = docker("exec", container, "systemctl", "is-system-running", "--wait", check=False)
        if answer.stdout.strip() in {"running", "degraded"}:
            return
        time.sleep(1)
    raise SystemExit(f"{container}: systemd did not finish booting within {timeout:.0f} s")


def save_local_ca() -> Path:
    """Pebble's root (new at each start of Pebble) to a file this machine's clients can trust."""
    fetch = (
        "import ssl, sys, urllib.request as u; "
        "c = ssl.create_default_context(cafile='/srv/pebble/cert.pem'); "
        "sys.stdout.write(u.urlopen('https://127.0.0.1:15000/roots/0', context=c, timeout=10)"
        ".read().decode())"
    )
    root = docker("exec", NAME, "python3", "-c", fetch).stdout
    path = ROOT / ".cache" / "dev" / "local-ca.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(root)
    return path


def wait_for_acme_certificate(timeout: float = 120) -> None:
    """Traefik asks Pebble once it sees the routers: wait for that certificate, not its own."""
    probe = (
        "openssl s_client -connect 127.0.0.1:443 -servername cariflex.localhost </dev/null"
        " 2>/dev/null | openssl x509 -noout -issuer"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        issuer = docker("exec", NAME, "sh", "-c", probe, check=False).stdout
        if issuer.strip() and "TRAEFIK DEFAULT CERT" not in issuer:
            return
        time.sleep(2)
    print("dev-host: Traefik still serves its own certificate (see its log)", file=sys.stderr)


def state() -> str | None:
    result = docker("inspect", "-f", "{{.State.Status}}", NAME, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def up() -> int:
    current = state()
    if current is None:
        print(f"dev-host: starting {NAME} from {IMAGE}", flush=True)
        docker("run", "-d", "--name", NAME, *platform_options())
    elif current != "running":
        print(f"dev-host: {NAME} was {current}; starting it", flush=True)
        docker("start", NAME)
    else:
        print(f"dev-host: reusing the running {NAME}", flush=True)
    wait_for_systemd(NAME)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    for playbook in ("playbooks/local-acme.yml", "site.yml"):
        converge = subprocess.run(
            ["ansible-playbook", playbook, "-i", "inventories/dev"], cwd=ROOT, env=env
        )
        if converge.returncode != 0:
            print(
                f"dev-host: {playbook} failed (see above); the host is left up for a look:"
                f" docker exec -it {NAME} bash",
                file=sys.stderr,
            )
            return converge.returncode
    ca = save_local_ca()
    wait_for_acme_certificate()
    https = PUBLISHED["443"]
    print(
        "\nWhere the services answer (from this machine; the dev host publishes on loopback):\n"
        f"  FlexMeasures  https://cariflex.localhost:{https}/\n"
        f"  Grafana       https://grafana.localhost:{https}/   (the stand-in, NOT Grafana)\n"
        f"  HTTP          http://cariflex.localhost:{PUBLISHED['80']}/  (redirects to HTTPS)\n"
        f"  local CA      {ca.relative_to(ROOT)}  (the dev host's ACME server, Pebble; trust it,"
        f" e.g. curl --cacert {ca.relative_to(ROOT)} https://cariflex.localhost:{https}/)\n"
        "  names         curl and browsers resolve *.localhost to loopback themselves; the"
        " system resolver (getent, Python, wget) does not: add\n"
        "                `127.0.0.1 cariflex.localhost grafana.localhost` to /etc/hosts for those\n"
        f"  dev host      docker exec -it {NAME} bash\n"
        "  logins        admin@digitribe.fr / inventories/dev/.secrets/flexmeasures_admin_password;"
        " Grafana admin / inventories/dev/.secrets/grafana_admin_password\n",
        flush=True,
    )
    health = subprocess.run(
        ["ansible-playbook", "playbooks/health.yml", "-i", "inventories/dev"], cwd=ROOT, env=env
    )
    return health.returncode


def down() -> int:
    if state() is not None:
        # -v: the anonymous /var/lib/docker volume goes with the host.
        docker("rm", "-f", "-v", NAME)
        print(f"dev-host: removed {NAME}")
    return 0


if __name__ == "__main__":
    actions = {"up": up, "down": down}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with only_one(sys.argv[1]):
        sys.exit(actions[sys.argv[1]]())
