"""A throwaway, real FlexMeasures 1.0.1 stack on loopback, for tests (standard library only).

Starts, in a private temporary directory, a PostgreSQL 15 cluster (Debian's binaries), a
redis-server that requires a password and FlexMeasures 1.0.1 served by gunicorn, each on a random
free port of 127.0.0.1, and removes all of it again. Nothing listens on another address and nothing
outside the temporary directory and the repository's ``.cache`` is written.

Interface (what other test suites use)::

    from tests.support.flexmeasures_local import FlexMeasuresLocal

    with FlexMeasuresLocal.start() as fm:          # or: fm = FlexMeasuresLocal.start(); fm.close()
        fm.url                # "http://127.0.0.1:<port>" (no trailing slash)
        fm.admin_email        # an admin user of account fm.account_id
        fm.admin_password     # random, never passed on a command line
        fm.account_id         # int, the account the admin belongs to
        fm.account_name
        fm.token()            # a fresh API token for the admin (POST /api/requestAuthToken)
        fm.api(method, path, body=None, token=None) -> (status, parsed JSON or None)
        mark = fm.access_log_mark()                # position in gunicorn's access log
        fm.requests_since(mark) -> list[AccessLogEntry(method, path, query, status)]
        fm.stop_flexmeasures(); fm.start_flexmeasures()   # "FlexMeasures down" tests
        fm.redis_port, fm.redis_password, fm.postgres_port, fm.database_uri (secrets inside)
        fm.trusted_hosts      # TRUSTED_HOSTS: 127.0.0.1, localhost, cariflex.digitribe.fr

A session-scoped pytest fixture ``flexmeasures_local`` lives in ``tests/support/fixtures.py``
(load it with ``pytest_plugins = ["tests.support.fixtures"]``).

The FlexMeasures virtualenv is created on first use at ``.cache/venvs/flexmeasures-1.0.1`` from
``images/flexmeasures/requirements-1.0.1.txt`` (pinned freeze, ``pip install --no-deps``) and
reused while that file is unchanged. A migrated, empty database cluster is kept as a template in
``.cache/flexmeasures-local/`` so later starts skip the migrations; delete that folder to rebuild.

Environment knobs: ``FLEXMEASURES_LOCAL_VENV`` (use another FlexMeasures venv),
``FLEXMEASURES_LOCAL_KEEP=1`` (leave the temporary directory in place for debugging),
``FLEXMEASURES_LOCAL_PG_BIN`` (PostgreSQL binaries, default /usr/lib/postgresql/15/bin).

Needs: Debian packages ``postgresql`` (15) and ``redis-server``; when run as root, the ``postgres``
system user (initdb refuses root; ``runuser`` is used).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEXMEASURES_VERSION = "1.0.1"
REQUIREMENTS = REPO_ROOT / "images" / "flexmeasures" / f"requirements-{FLEXMEASURES_VERSION}.txt"
CACHE_DIR = REPO_ROOT / ".cache"
DEFAULT_VENV = CACHE_DIR / "venvs" / f"flexmeasures-{FLEXMEASURES_VERSION}"
TEMPLATE_DIR = CACHE_DIR / "flexmeasures-local"
LOOPBACK = "127.0.0.1"
ACCESS_LOG_FORMAT = '%(m)s %(U)s "%(q)s" %(s)s'


class FlexMeasuresLocalError(RuntimeError):
    """The local stack could not be built or started; the message carries the relevant log."""


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str
    query: str
    status: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run(cmd: list[str], *, stdin: str | None = None, env: dict | None = None, timeout=300, **kw):
    """Run a command; on failure raise with its output (commands never carry secrets)."""
    proc = subprocess.run(
        cmd,
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        timeout=timeout,
        check=False,
        **kw,
    )
    if proc.returncode != 0:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise FlexMeasuresLocalError(f"{' '.join(cmd)} exited {proc.returncode}\n{output}")
    return proc


def _requirements_key(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{sys.version_info[:2]}".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path):
    """Serialise concurrent test sessions building the same cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_venv(venv: Path | None = None, requirements: Path = REQUIREMENTS) -> Path:
    """Return a FlexMeasures venv, creating it from the pinned requirements when missing/stale."""
    if venv is None and os.environ.get("FLEXMEASURES_LOCAL_VENV"):
        return Path(os.environ["FLEXMEASURES_LOCAL_VENV"])
    venv = venv or DEFAULT_VENV
    stamp = venv / ".requirements-key"
    key = _requirements_key(requirements)
    with _file_lock(venv.parent / f".{venv.name}.lock"):
        if stamp.exists() and stamp.read_text().strip() == key:
            return venv
        # Built in place: the stamp, written last, is what marks the venv complete.
        shutil.rmtree(venv, ignore_errors=True)
        python = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
        _run([python, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        try:
            # --no-compile: byte-compiling every file of ~160 packages is a third of the build;
            # Python compiles what FlexMeasures actually imports on first use.
            install = ["install", "--quiet", "--no-compile", "--no-deps", "-r", str(requirements)]
            _run([*pip, *install], timeout=1800)
        except FlexMeasuresLocalError:
            # A freeze made on another platform may lack a wheel's platform-only dependency.
            _run([*pip, "install", "--quiet", "-r", str(requirements)], timeout=1800)
        for tool in ("flexmeasures", "gunicorn"):
            if not (venv / "bin" / tool).exists():
                raise FlexMeasuresLocalError(f"{tool} missing from {venv} after pip install")
        stamp.write_text(key + "\n")
    return venv


# Runs inside the FlexMeasures venv. It drives FlexMeasures' own CLI (the commands an operator
# runs) in one interpreter, so the slow import happens once; passwords come from our stdin and are
# fed to the CLI's getpass prompts through sys.stdin, never through argv.
_SETUP_SCRIPT = r"""
import io, json, sys
params = json.loads(sys.stdin.readline())
from flask.cli import ScriptInfo
from flexmeasures.app import create
from flexmeasures.utils.app_utils import flexmeasures_cli

app = create()  # FlexMeasures' app can be created once per process (rq_dashboard blueprint)

def cli(args, stdin_text=""):
    sys.stdin = io.StringIO(stdin_text)
    try:
        flexmeasures_cli.main(args=args, prog_name="flexmeasures", standalone_mode=False,
                              obj=ScriptInfo(create_app=lambda: app))
    finally:
        sys.stdin = sys.__stdin__

cli(["db", "upgrade"])
cli(["add", "initial-structure"])
if params["template_only"]:
    sys.exit(0)
cli(["add", "account", "--name", params["account_name"]])

from flexmeasures.data import db
from flexmeasures.data.models.user import Account
from sqlalchemy import select
with app.app_context():
    account_id = db.session.execute(
        select(Account.id).filter_by(name=params["account_name"])).scalar_one()
password = params["admin_password"]
cli(["add", "user", "--username", "admin", "--email", params["admin_email"],
     "--account", str(account_id), "--roles", "admin", "--timezone", "Europe/Paris"],
    password + "\n" + password + "\n")
print(json.dumps({"account_id": account_id}))
"""


@dataclass
class FlexMeasuresLocal:
    """A running local stack. Build it with :meth:`start`; always :meth:`close` it."""

    workdir: Path
    venv: Path
    pg_bin: Path = field(
        default_factory=lambda: Path(
            os.environ.get("FLEXMEASURES_LOCAL_PG_BIN", "/usr/lib/postgresql/15/bin")
        )
    )
    account_name: str = "Cariflex test"
    admin_email: str = "admin@cariflex.digitribe.fr"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    db_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    postgres_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    account_id: int = 0
    # Like production, FlexMeasures only answers requests for these Host names.
    trusted_hosts: tuple = (LOOPBACK, "localhost", "cariflex.digitribe.fr")
    _processes: dict = field(default_factory=dict)
    _pg_started: bool = False

    # ----------------------------------------------------------------------------- lifecycle
    @classmethod
    def start(cls, venv: Path | None = None, workdir: Path | None = None) -> FlexMeasuresLocal:
        venv = ensure_venv(venv)
        workdir = Path(workdir or tempfile.mkdtemp(prefix="flexmeasures-local-"))
        workdir.chmod(0o755)  # the postgres user must reach its data folder below
        stack = cls(workdir=workdir, venv=venv)
        # Also on interpreter exit without teardown (a crashed session): no orphans, no temp dirs.
        atexit.register(stack.close)
        try:
            stack._start_postgres()
            stack._start_redis()
            stack._write_config()
            stack._seed_account_and_admin()
            stack.start_flexmeasures()
        except BaseException:
            stack.close()
            raise
        return stack

    def __enter__(self) -> FlexMeasuresLocal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process and remove the temporary directory (idempotent, never raises)."""
        for name in list(self._processes):
            self._kill(name)
        if self._pg_started:
            with contextlib.suppress(Exception):
                self._as_postgres(
                    [
                        str(self.pg_bin / "pg_ctl"),
                        "-D",
                        str(self.pgdata),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    timeout=30,
                )
            self._pg_started = False
        if os.environ.get("FLEXMEASURES_LOCAL_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ----------------------------------------------------------------------------- public API
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def database_uri(self) -> str:
        # psycopg2 explicitly: SQLAlchemy 2.1 defaults to psycopg 3, whose server-side parameter
        # binding breaks FlexMeasures 1.0.1's sensor and asset DELETE (jsonb_path_exists(jsonb,
        # varchar, jsonb) does not exist).
        return (
            f"postgresql+psycopg2://flexmeasures:{self.db_password}@{LOOPBACK}:"
            f"{self.postgres_port}/flexmeasures"
        )

    @property
    def access_log(self) -> Path:
        return self.workdir / "gunicorn-access.log"

    @property
    def server_log(self) -> Path:
        return self.workdir / "gunicorn-error.log"

    def start_flexmeasures(self, timeout: float = 120) -> None:
        """Start gunicorn (again) on the same port and wait until health/ready is green."""
        if "flexmeasures" in self._processes:
            return
        cmd = [
            str(self.venv / "bin" / "gunicorn"),
            "--bind",
            f"{LOOPBACK}:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--timeout",
            "120",
            "--access-logfile",
            str(self.access_log),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            "--error-logfile",
            str(self.server_log),
            "--config",
            str(self._gunicorn_hooks()),
            "flexmeasures.app:create()",
        ]
        self._spawn("flexmeasures", cmd, self.server_log)
        self._wait_ready(timeout)

    def _gunicorn_hooks(self) -> Path:
        hooks = self.workdir / "gunicorn_hooks.py"
        # FlexMeasures' logging dictConfig disables the loggers that exist when the app loads,
        # gunicorn's access logger among them; the access log is how tests count requests.
        hooks.write_text(
            "import logging\n\n\ndef post_worker_init(worker):\n"
            "    for name in ('gunicorn.access', 'gunicorn.error'):\n"
            "        logging.getLogger(name).disabled = False\n"
        )
        return hooks

    def stop_flexmeasures(self) -> None:
        """Stop gunicorn; the port then refuses connections until start_flexmeasures()."""
        self._kill("flexmeasures")

    def api(self, method: str, path: str, body=None, token: str | None = None, timeout=30):
        """One HTTP call to the local FlexMeasures; returns (status, parsed JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def token(self) -> str:
        status, body = self.api(
            "POST",
            "/api/requestAuthToken",
            {"email": self.admin_email, "password": self.admin_password},
        )
        if status != 200:
            raise FlexMeasuresLocalError(f"requestAuthToken answered {status}: {body}")
        return body["auth_token"]

    def _access_log_size(self) -> int:
        try:
            return self.access_log.stat().st_size
        except FileNotFoundError:
            return 0

    def access_log_mark(self, settle: float = 0.3) -> int:
        """An opaque position in the access log; pass it to requests_since().

        gunicorn writes a line just after it answers, so the log is first let settle: a request
        answered before the mark is never counted after it.
        """
        return self._settled_size(settle)

    def _settled_size(self, settle: float) -> int:
        size = self._access_log_size()
        while True:
            time.sleep(settle)
            now = self._access_log_size()
            if now == size:
                return size
            size = now

    def requests_since(self, mark: int, settle: float = 0.3) -> list[AccessLogEntry]:
        """Requests gunicorn logged after `mark` (waits until the log stops growing)."""
        self._settled_size(settle)
        with open(self.access_log, "rb") as handle:
            handle.seek(mark)
            text = handle.read().decode(errors="replace")
        entries = []
        for line in text.splitlines():
            match = re.match(r'^(\S+) (\S+) "(.*)" (\d{3})$', line.strip())
            if match:
                entries.append(AccessLogEntry(match[1], match[2], match[3], int(match[4])))
        return entries

    # ----------------------------------------------------------------------------- internals
    @property
    def pgdata(self) -> Path:
        return self.workdir / "pg" / "data"

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    def _fm_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEXMEASURES", "FLASK"))}
        # FlexMeasures reads ~/.flexmeasures.cfg: a private HOME keeps the caller's own untouched.
        env.update(
            HOME=str(self.home),
            FLEXMEASURES_ENV="development",
            PYTHONUNBUFFERED="1",
            PATH=f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        )
        env.pop("VIRTUAL_ENV", None)
        return env

    def _as_postgres(self, cmd: list[str], stdin: str | None = None, timeout=120):
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return _run(cmd, stdin=stdin, timeout=timeout, cwd="/")

    def _psql(self, sql: str, database: str = "postgres") -> str:
        cmd = [
            str(self.pg_bin / "psql"),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.pgdata.parent),
            "-p",
            str(self.postgres_port),
            "-U",
            "postgres",
            "-d",
            database,
        ]
        return self._as_postgres(cmd, stdin=sql).stdout.strip()

    def _template_path(self) -> Path:
        key = _requirements_key(REQUIREMENTS)
        return TEMPLATE_DIR / f"pgdata-{FLEXMEASURES_VERSION}-{key}"

    def _start_postgres(self) -> None:
        pgroot = self.pgdata.parent
        pgroot.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(pgroot, "postgres", "postgres")
        pgroot.chmod(0o700)
        template = self._template_path()
        fresh = not (template / "PG_VERSION").exists()
        if fresh:
            self._as_postgres(
                [
                    str(self.pg_bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
        else:
            self._as_postgres(["cp", "-a", str(template), str(self.pgdata)])
        self._pg_ctl_start()
        if fresh:
            self._psql(
                "CREATE ROLE flexmeasures LOGIN;\n"
                "CREATE DATABASE flexmeasures OWNER flexmeasures;\n"
                "\\c flexmeasures\n"
                "CREATE EXTENSION cube;\nCREATE EXTENSION earthdistance;\n"
            )
        # The password is sent over the private socket on stdin, never in argv.
        self._psql(f"ALTER ROLE flexmeasures PASSWORD '{self.db_password}';")
        if fresh:
            self._build_template(template)

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self.postgres_port} -k {self.pgdata.parent} "
            f"-c listen_addresses={LOOPBACK} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off"
        )
        log = self.pgdata.parent / "postgres.log"
        try:
            self._as_postgres(
                [
                    str(self.pg_bin / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        except FlexMeasuresLocalError as error:
            raise FlexMeasuresLocalError(f"{error}\n{_tail(log)}") from None
        self._pg_started = True

    def _build_template(self, template: Path) -> None:
        """Migrate once and keep a copy of the cluster: later starts skip alembic's ~150 steps."""
        self._start_redis()
        self._write_config()
        self._run_setup(template_only=True)
        stop = [str(self.pg_bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
        self._as_postgres(stop)
        self._pg_started = False
        with _file_lock(TEMPLATE_DIR / ".template.lock"):
            if not (template / "PG_VERSION").exists():
                building = template.with_name(template.name + ".building")
                shutil.rmtree(building, ignore_errors=True)
                shutil.copytree(self.pgdata, building, symlinks=True)
                (building / "postmaster.pid").unlink(missing_ok=True)
                (building / "postmaster.opts").unlink(missing_ok=True)
                shutil.rmtree(template, ignore_errors=True)
                building.rename(template)
                if os.geteuid() == 0:
                    # cp -a as postgres must be able to read it; the parent stays root-owned.
                    TEMPLATE_DIR.chmod(0o755)
                    _run(["chown", "-R", "postgres:postgres", str(template)])
        self._pg_ctl_start()

    def _start_redis(self) -> None:
        if "redis" in self._processes:
            return
        conf = self.workdir / "redis.conf"
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir(exist_ok=True)
        # The password lives in a 0600 file, not on redis-server's command line.
        conf.write_text(
            f"bind {LOOPBACK}\nport {self.redis_port}\nrequirepass {self.redis_password}\n"
            f'save ""\nappendonly no\ndir {redis_dir}\ndaemonize no\nprotected-mode yes\n'
            f"logfile {redis_dir / 'redis.log'}\n"
        )
        conf.chmod(0o600)
        self._spawn("redis", ["redis-server", str(conf)], redis_dir / "redis.log")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((LOOPBACK, self.redis_port), timeout=1) as sock,
            ):
                sock.sendall(f"AUTH {self.redis_password}\r\nPING\r\n".encode())
                if b"PONG" in sock.recv(64):
                    return
            time.sleep(0.1)
        log = _tail(redis_dir / "redis.log")
        raise FlexMeasuresLocalError(f"redis-server did not come up\n{log}")

    def _write_config(self) -> None:
        self.home.mkdir(exist_ok=True)
        config = self.home / ".flexmeasures.cfg"
        settings = {
            "SQLALCHEMY_DATABASE_URI": self.database_uri,
            "SECRET_KEY": secrets.token_hex(24),
            "SECURITY_TOTP_SECRETS": {"1": secrets.token_hex(16)},
            "FLEXMEASURES_REDIS_URL": LOOPBACK,
            "FLEXMEASURES_REDIS_PORT": self.redis_port,
            "FLEXMEASURES_REDIS_PASSWORD": self.redis_password,
            # Flask-Security-Too 5.9 (today's pin) rejects FlexMeasures' default "1 week".
            "SECURITY_TWO_FACTOR_LOGIN_VALIDITY": "1 weeks",
            "FLEXMEASURES_HOSTS_AND_AUTH_START": {LOOPBACK: "2026-01"},
            "FLEXMEASURES_TIMEZONE": "Europe/Paris",
            "TRUSTED_HOSTS": list(self.trusted_hosts),
            "LOGGING_LEVEL": "WARNING",
            "MAIL_SUPPRESS_SEND": True,
        }
        config.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
        config.chmod(0o600)

    def _run_setup(self, template_only: bool) -> str:
        params = {
            "template_only": template_only,
            "account_name": self.account_name,
            "admin_email": self.admin_email,
            "admin_password": self.admin_password,
        }
        script = self.workdir / "setup_flexmeasures.py"
        script.write_text(_SETUP_SCRIPT)
        # start_new_session: no controlling tty, so getpass reads the password from stdin.
        return _run(
            [str(self.venv / "bin" / "python"), str(script)],
            stdin=json.dumps(params) + "\n",
            env=self._fm_env(),
            timeout=600,
            start_new_session=True,
        ).stdout

    def _seed_account_and_admin(self) -> None:
        output = self._run_setup(template_only=False)
        self.account_id = int(json.loads(output.strip().splitlines()[-1])["account_id"])

    def _spawn(self, name: str, cmd: list[str], log: Path) -> None:
        handle = open(log, "ab")  # noqa: SIM115 - closed in _kill
        proc = subprocess.Popen(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._fm_env(),
            cwd=self.workdir,
            start_new_session=True,
        )
        self._processes[name] = (proc, handle, log)

    def _kill(self, name: str) -> None:
        proc, handle, _log = self._processes.pop(name)
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        handle.close()

    def _wait_ready(self, timeout: float) -> None:
        proc, _handle, log = self._processes["flexmeasures"]
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._processes.pop("flexmeasures")[1].close()
                raise FlexMeasuresLocalError(f"gunicorn exited {proc.returncode}\n{_tail(log)}")
            with contextlib.suppress(OSError, ValueError):
                last = self.api("GET", "/api/v3_0/health/ready", timeout=5)
                status, body = last
                if (
                    status == 200
                    and body
                    and body.get("database_sql")
                    and body.get("database_redis")
                ):
                    return
            time.sleep(0.25)
        raise FlexMeasuresLocalError(
            f"FlexMeasures not ready after {timeout}s ({last})\n{_tail(log)}"
        )
