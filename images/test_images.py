"""Contract tests of the stand-in images: what the roles rely on from the upstream images.

Run by `make images-test` after `make images`. Every container and network here is created by the
test (names start with `imgtest-`) and removed at the end; the only address contacted is loopback.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
NETWORK = "imgtest-net"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True, **kwargs)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("imgtest")
    path.chmod(0o755)
    (path / "pg_password").write_text(secrets.token_urlsafe(24) + "\n")
    (path / "redis.conf").write_text(f"requirepass {secrets.token_urlsafe(24)}\nappendonly yes\n")
    for name in ("pg_password", "redis.conf"):
        (path / name).chmod(0o644)
    return path


@pytest.fixture(scope="module")
def stack(secrets_dir: Path) -> Iterator[dict[str, str]]:
    names = ["imgtest-pg", "imgtest-redis", "imgtest-fm"]
    docker("rm", "-f", *names, check=False)
    docker("network", "rm", NETWORK, check=False)
    docker("network", "create", NETWORK)
    try:
        docker(
            "run",
            "-d",
            "--name",
            "imgtest-pg",
            "--network",
            NETWORK,
            "-e",
            "POSTGRES_USER=flexmeasures",
            "-e",
            "POSTGRES_DB=flexmeasures",
            "-e",
            "POSTGRES_PASSWORD_FILE=/run/secrets/pg_password",
            "-v",
            f"{secrets_dir / 'pg_password'}:/run/secrets/pg_password:ro",
            "cariflex-test/postgres:15",
        )
        docker(
            "run",
            "-d",
            "--name",
            "imgtest-redis",
            "--network",
            NETWORK,
            "-v",
            f"{secrets_dir / 'redis.conf'}:/usr/local/etc/redis/redis.conf:ro",
            "cariflex-test/redis:7",
        )
        wait_for(
            lambda: (
                docker(
                    "exec", "imgtest-pg", "pg_isready", "-h", "127.0.0.1", check=False
                ).returncode
                == 0
            ),
            60,
            "PostgreSQL",
        )
        yield {"pg_password": (secrets_dir / "pg_password").read_text().strip()}
    finally:
        docker("rm", "-f", *names, check=False)
        docker("network", "rm", NETWORK, check=False)


def flexmeasures_cli(mount: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A FlexMeasures CLI command in a short-lived container with the config mounted."""
    return docker(
        "run",
        "--rm",
        "--network",
        NETWORK,
        "-v",
        mount,
        "cariflex-test/flexmeasures:1.0.1",
        "flexmeasures",
        *args,
        check=check,
    )


def psql(password: str, sql: str) -> subprocess.CompletedProcess:
    return docker(
        "exec",
        "-e",
        f"PGPASSWORD={password}",
        "imgtest-pg",
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "flexmeasures",
        "-d",
        "flexmeasures",
        "-tAc",
        sql,
        check=False,
    )


def test_postgres_takes_its_password_from_the_file_and_refuses_others(stack):
    assert psql(stack["pg_password"], "select 1").stdout.strip() == "1"
    refused = psql("wrong-" + stack["pg_password"], "select 1")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr


def test_postgres_cluster_is_utf8_and_runs_as_uid_999(stack):
    assert psql(stack["pg_password"], "show server_encoding").stdout.strip() == "UTF8"
    owner = docker("exec", "imgtest-pg", "stat", "-c", "%u", "/var/lib/postgresql/data")
    assert owner.stdout.strip() == "999"


def test_redis_refuses_a_client_without_the_password(stack, secrets_dir: Path):
    password = (secrets_dir / "redis.conf").read_text().split()[1]
    anonymous = docker("exec", "imgtest-redis", "redis-cli", "ping")
    assert "NOAUTH" in anonymous.stdout
    authed = docker("exec", "-e", f"REDISCLI_AUTH={password}", "imgtest-redis", "redis-cli", "ping")
    assert authed.stdout.strip() == "PONG"
    assert docker("exec", "imgtest-redis", "id", "-u").stdout.strip() == "999"


def test_flexmeasures_serves_health_from_the_instance_config(stack, secrets_dir: Path):
    redis_password = (secrets_dir / "redis.conf").read_text().split()[1]
    psql(stack["pg_password"], "create extension if not exists cube")
    psql(stack["pg_password"], "create extension if not exists earthdistance")
    config = secrets_dir / "flexmeasures.cfg"
    config.write_text(
        'FLEXMEASURES_ENV = "production"\n'
        f'SQLALCHEMY_DATABASE_URI = "postgresql+psycopg2://flexmeasures:{stack["pg_password"]}'
        '@imgtest-pg:5432/flexmeasures"\n'
        f'SECRET_KEY = "{secrets.token_urlsafe(32)}"\n'
        f'SECURITY_TOTP_SECRETS = {{"1": "{secrets.token_urlsafe(32)}"}}\n'
        'FLEXMEASURES_REDIS_URL = "imgtest-redis"\n'
        f'FLEXMEASURES_REDIS_PASSWORD = "{redis_password}"\n'
        'SECURITY_TWO_FACTOR_LOGIN_VALIDITY = "1 weeks"\n'
    )
    config.chmod(0o644)
    mount = f"{config}:/app/instance/flexmeasures.cfg:ro"
    upgrade = flexmeasures_cli(mount, "db", "upgrade", check=False)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    # One CLI run provisions FlexMeasures' template assets before gunicorn's workers race to do it.
    flexmeasures_cli(mount, "add", "initial-structure")
    docker(
        "run",
        "-d",
        "--name",
        "imgtest-fm",
        "--network",
        NETWORK,
        "-p",
        "127.0.0.1::5000",
        "-v",
        mount,
        "cariflex-test/flexmeasures:1.0.1",
    )
    port = docker("port", "imgtest-fm", "5000/tcp").stdout.strip().rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}/api/v3_0/health/ready"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(ready, 90, "FlexMeasures health")
    with urllib.request.urlopen(url, timeout=5) as response:
        health = json.load(response)
    assert health["database_sql"] is True
    assert health["database_redis"] is True


@pytest.mark.parametrize(
    ("image", "command", "expected"),
    [
        ("cariflex-test/traefik:3.7", ["version"], "3.7.15"),
        ("cariflex-test/pebble:2.4", ["dpkg-query", "-W", "pebble"], "2.4.0"),
        (
            "cariflex-test/python:3.11",
            ["python3", "-c", "import venv, sys; print(sys.version)"],
            "3.11",
        ),
    ],
)
def test_tool_images_run_the_real_software(image: str, command: list[str], expected: str):
    result = docker("run", "--rm", image, *command, check=False)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout + result.stderr
