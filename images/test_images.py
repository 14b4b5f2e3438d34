"""Contract tests of the stand-in images: what the roles rely on from the upstream images.

Run by `make images-test` after `make images`. Every container and network here is created by the
test (names start with `imgtest-`) and removed at the end; the only address contacted is loopback.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
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


# ----------------------------------------------------------------------------- Grafana stand-in
# NOT Grafana: no Grafana can be obtained here. These tests pin the part of Grafana's behaviour the
# grafana role relies on, so that the stand-in cannot drift into being easier than Grafana.
GRAFANA = "cariflex-test/grafana-standin:12.4"
GRAFANA_DATASOURCE = """\
apiVersion: 1
datasources:
  - name: FlexMeasures
    uid: cariflex-flexmeasures
    type: grafana-postgresql-datasource
    url: flexmeasures-db:5432
    user: grafana_reader
    jsonData: {database: flexmeasures}
    secureJsonData:
      password: $__file{/run/secrets/grafana/db_password}
"""
GRAFANA_PROVIDER = """\
apiVersion: 1
providers:
  - name: cariflex
    folder: Cariflex
    type: file
    options: {path: /etc/grafana/dashboards}
"""


def basic_get(url: str, user: str | None = None, password: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, {}


@pytest.fixture
def grafana_dir(tmp_path: Path) -> Path:
    """Provisioning, a dashboard and secret files laid out as the grafana role lays them out."""
    tmp_path.chmod(0o755)
    (tmp_path / "provisioning" / "datasources").mkdir(parents=True)
    (tmp_path / "provisioning" / "dashboards").mkdir()
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "provisioning" / "datasources" / "cariflex.yaml").write_text(GRAFANA_DATASOURCE)
    (tmp_path / "provisioning" / "dashboards" / "cariflex.yaml").write_text(GRAFANA_PROVIDER)
    board = {"uid": "cariflex-energy", "title": "Energy", "panels": [{"id": 1}]}
    (tmp_path / "dashboards" / "energy.json").write_text(json.dumps(board))
    secrets_path = tmp_path / "secrets"
    secrets_path.mkdir()
    (secrets_path / "admin_password").write_text("first-" + secrets.token_urlsafe(18))
    (secrets_path / "db_password").write_text(secrets.token_urlsafe(18))
    for path in [*secrets_path.iterdir(), secrets_path]:
        os.chown(path, 472, 472)
        path.chmod(0o500 if path.is_dir() else 0o400)
    for path in tmp_path.rglob("*"):
        if "secrets" not in path.parts:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return tmp_path


def run_grafana(folder: Path, name: str, *extra: str) -> str:
    docker("rm", "-f", name, check=False)
    docker(
        "run", "-d", "--name", name, "-p", "127.0.0.1::3000",
        "-v", f"{name}-data:/var/lib/grafana",
        "-v", f"{folder / 'provisioning'}:/etc/grafana/provisioning:ro",
        "-v", f"{folder / 'dashboards'}:/etc/grafana/dashboards:ro",
        "-v", f"{folder / 'secrets'}:/run/secrets/grafana:ro",
        *extra, GRAFANA,
    )  # fmt: skip
    port = docker("port", name, "3000/tcp").stdout.strip().rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url + "/api/health"), 30, "the Grafana stand-in's health")
    return url


def _answers(url: str) -> bool:
    try:
        return basic_get(url)[0] == 200
    except OSError:
        return False


@pytest.fixture
def grafana(grafana_dir: Path) -> Iterator[tuple[str, Path]]:
    name = "imgtest-grafana"
    env = ["-e", "GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana/admin_password"]
    env += ["-e", "GF_AUTH_ANONYMOUS_ENABLED=false"]
    try:
        yield run_grafana(grafana_dir, name, *env), grafana_dir
    finally:
        docker("rm", "-f", name, check=False)
        docker("volume", "rm", f"{name}-data", check=False)


def test_grafana_standin_says_what_it_is_and_runs_as_472(grafana):
    url, _ = grafana
    assert docker("exec", "imgtest-grafana", "id", "-u").stdout.strip() == "472"
    label = docker("image", "inspect", "-f", "{{json .Config.Labels}}", GRAFANA).stdout
    assert "NOT Grafana" in label
    status, health = basic_get(url + "/api/health")
    assert status == 200 and health["database"] == "ok"
    with urllib.request.urlopen(url + "/login", timeout=5) as response:
        assert b"<title>Grafana</title>" in response.read()


def test_grafana_standin_takes_the_admin_password_from_the_file_on_first_start_only(grafana):
    url, folder = grafana
    first = (folder / "secrets" / "admin_password").read_text()
    assert basic_get(url + "/api/user", "admin", first)[0] == 200
    assert basic_get(url + "/api/user", "admin", "admin")[0] == 401
    assert basic_get(url + "/api/user")[0] == 401
    assert basic_get(url + "/api/search")[0] == 401
    # A new file is not read again by a restart: Grafana keeps the password in its database.
    secret = folder / "secrets" / "admin_password"
    secret.chmod(0o600)
    secret.write_text("second-" + secrets.token_urlsafe(18))
    docker("restart", "imgtest-grafana")
    port = docker("port", "imgtest-grafana", "3000/tcp").stdout.strip().rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url + "/api/health"), 30, "the restarted stand-in")
    assert basic_get(url + "/api/user", "admin", first)[0] == 200
    assert basic_get(url + "/api/user", "admin", secret.read_text())[0] == 401


def test_grafana_standin_cli_resets_the_admin_password_from_stdin(grafana):
    url, folder = grafana
    first = (folder / "secrets" / "admin_password").read_text()
    new = "reset-" + secrets.token_urlsafe(18)
    argv = ["grafana", "cli", "--homepath", "/usr/share/grafana", "--config"]
    argv += ["/etc/grafana/grafana.ini", "admin", "reset-admin-password", "--password-from-stdin"]
    reset = docker("exec", "-i", "imgtest-grafana", *argv, input=new + "\n")
    assert reset.returncode == 0, reset.stderr
    assert basic_get(url + "/api/user", "admin", new)[0] == 200
    assert basic_get(url + "/api/user", "admin", first)[0] == 401


def test_grafana_standin_serves_what_its_provisioning_files_say(grafana):
    url, folder = grafana
    password = (folder / "secrets" / "admin_password").read_text()
    status, sources = basic_get(url + "/api/datasources", "admin", password)
    assert status == 200
    (source,) = sources
    assert source["uid"] == "cariflex-flexmeasures"
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["user"] == "grafana_reader" and source["database"] == "flexmeasures"
    assert source["secureJsonFields"] == {"password": True}
    db_password = (folder / "secrets" / "db_password").read_text()
    assert db_password not in json.dumps(sources)
    status, hits = basic_get(url + "/api/search", "admin", password)
    assert [(h["uid"], h["title"], h["folderTitle"]) for h in hits] == [
        ("cariflex-energy", "Energy", "Cariflex")
    ]
    status, board = basic_get(url + "/api/dashboards/uid/cariflex-energy", "admin", password)
    assert status == 200 and board["meta"]["provisioned"] is True


def test_grafana_standin_without_a_password_setting_is_admin_admin_like_grafana(grafana_dir):
    try:
        url = run_grafana(grafana_dir, "imgtest-grafana-default")
        assert basic_get(url + "/api/user", "admin", "admin")[0] == 200
    finally:
        docker("rm", "-f", "imgtest-grafana-default", check=False)
        docker("volume", "rm", "imgtest-grafana-default-data", check=False)


def test_grafana_standin_refuses_to_start_on_an_unreadable_file_reference(grafana_dir):
    os.chown(grafana_dir / "secrets" / "db_password", 0, 0)
    name = "imgtest-grafana-broken"
    docker("rm", "-f", name, check=False)
    try:
        docker(
            "run", "--name", name,
            "-v", f"{grafana_dir / 'provisioning'}:/etc/grafana/provisioning:ro",
            "-v", f"{grafana_dir / 'dashboards'}:/etc/grafana/dashboards:ro",
            "-v", f"{grafana_dir / 'secrets'}:/run/secrets/grafana:ro",
            GRAFANA, check=False,
        )  # fmt: skip
        logs = docker("logs", name, check=False)
        state = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert state != "0"
        assert "db_password" in logs.stderr + logs.stdout
    finally:
        docker("rm", "-f", name, check=False)
