"""cariflex-backup: one encrypted, checksummed backup of a Cariflex host, its off-host copy, and
pruning. Installed by the digitribe.cariflex backup role; run daily by cron.

  cariflex-backup run [--config FILE] [--backup-dir DIR]   take a backup now
  cariflex-backup list [--config FILE]                      the complete backups, oldest first
  cariflex-backup verify-tar FILE                           check a decrypted archive's manifest

What a backup is: a tar stream, encrypted with age to the public keys of the config (the host
never holds a private key), written as .NAME.partial and renamed only when complete, with a
NAME.sha256 beside it. Nothing readable leaves this program unencrypted: the tar goes straight into
age's stdin. The database dump and the Redis file arrive as streams of unknown length and are
stored as numbered chunks (NAME.000000, ...), concatenated again on restore.

On any failure: one line "cariflex-backup: FAILED: ..." to syslog (the journal), the log file and
stderr; exit 1; the partial file removed; no older backup deleted.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import fcntl
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import syslog
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backup_retention import backups_to_keep

FORMAT = 1
NAME_RE = re.compile(r"^cariflex-(\d{8}T\d{6}Z)\.tar\.age$")
CHUNK_BYTES = 32 * 1024 * 1024
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
DEFAULT_CONFIG = "/etc/cariflex/backup/config.json"


class BackupError(Exception):
    """A failure to report in one line; the backup is abandoned."""


# ---------------------------------------------------------------------------------------------
# Logging: one line each, to syslog (journal), the log file and stderr.


class Log:
    def __init__(self, log_file: str | None) -> None:
        self.log_file = log_file
        syslog.openlog("cariflex-backup", syslog.LOG_PID, syslog.LOG_CRON)

    def __call__(self, message: str, error: bool = False) -> None:
        line = f"cariflex-backup: {message}"
        with contextlib.suppress(OSError):
            syslog.syslog(syslog.LOG_ERR if error else syslog.LOG_INFO, line)
        if self.log_file:
            with contextlib.suppress(OSError):
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                with open(self.log_file, "a", encoding="utf-8") as handle:
                    handle.write(f"{stamp} {line}\n")
        print(line, file=sys.stderr if error else sys.stdout, flush=True)


# ---------------------------------------------------------------------------------------------
# Names and listing.


def backup_name(when: dt.datetime) -> str:
    return f"cariflex-{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.tar.age"


def stamp_of(name: str) -> dt.datetime | None:
    match = NAME_RE.match(name)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def complete_backups(directory: Path) -> list[Path]:
    """Archives with their .sha256 beside them (a half-written one has neither), oldest first."""
    if not directory.is_dir():
        return []
    found = [
        path
        for path in directory.iterdir()
        if stamp_of(path.name) and path.with_name(path.name + ".sha256").is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Commands run on the host (docker), with their errors in words.


class Runner:
    def __init__(self, docker: str) -> None:
        self.docker = docker
        self.volumes: dict[str, Path | None] = {}

    def docker_out(self, args: list[str], stdin: bytes | None = None, what: str = "") -> bytes:
        try:
            done = subprocess.run(
                [self.docker, *args],
                input=stdin,
                capture_output=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupError(f"{what or 'docker ' + args[0]}: {exc}") from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise BackupError(
                f"{what or 'docker ' + ' '.join(args[:2])}: exit {done.returncode}: "
                f"{detail[-1] if detail else 'no message'}"
            )
        return done.stdout


# ---------------------------------------------------------------------------------------------
# The archive: a tar stream into age, every member hashed on the way.


class HashingReader(io.RawIOBase):
    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


class Archive:
    def __init__(self, stream) -> None:
        self.tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.members: list[dict] = []

    def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        self.tar.addfile(info, io.BytesIO(data))
        self.members.append(
            {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )

    def add_stream(self, name: str, stream) -> tuple[int, str]:
        """Chunks NAME.000000, NAME.000001, ... of a stream of unknown length."""
        whole = hashlib.sha256()
        total = index = 0
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk and index > 0:
                break
            whole.update(chunk)
            total += len(chunk)
            self.add_bytes(f"{name}.{index:06d}", chunk)
            index += 1
            if not chunk:
                break
        return total, whole.hexdigest()

    def add_path(self, name: str, path: Path, excludes: list[str]) -> int:
        """A file or a tree, with owners and modes; sqlite databases copied consistently."""
        count = 0
        is_dir = path.is_dir()
        entries = [path, *sorted(path.rglob("*"))] if is_dir else [path]
        for entry in entries:
            relative = entry.relative_to(path).as_posix() if entry != path else ""
            if relative and any(
                fnmatch.fnmatch(relative, pat) or fnmatch.fnmatch(entry.name, pat)
                for pat in excludes
            ):
                continue
            if is_dir:
                member = f"{name}/{relative}" if relative else name
            else:
                member = f"{name}/{path.name}"
            info = self.tar.gettarinfo(str(entry), arcname=member)
            if entry.is_file() and not entry.is_symlink() and entry.suffix in SQLITE_SUFFIXES:
                data = sqlite_snapshot(entry)
                info.size = len(data)
                self.tar.addfile(info, io.BytesIO(data))
                self.members.append(
                    {"name": member, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                )
            elif info.isreg():
                with open(entry, "rb") as handle:
                    reader = HashingReader(handle)
                    self.tar.addfile(info, reader)
                self.members.append(
                    {"name": member, "size": info.size, "sha256": reader.digest.hexdigest()}
                )
            else:
                self.tar.addfile(info)
            count += 1
        return count

    def close(self, manifest: dict) -> None:
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        info.mode = 0o600
        info.mtime = int(time.time())
        self.tar.addfile(info, io.BytesIO(data))
        self.tar.close()


def sqlite_snapshot(path: Path) -> bytes:
    """A consistent copy of a live sqlite database (its writer may be a container)."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    memory = sqlite3.connect(":memory:")
    try:
        source.backup(memory)
        return memory.serialize()
    finally:
        source.close()
        memory.close()


# ---------------------------------------------------------------------------------------------
# Sources.


def redis_password(config_file: str) -> str:
    try:
        text = Path(config_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"Redis config {config_file}: {exc.strerror}") from exc
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() == "requirepass":
            return parts[1].strip().strip('"')
    return ""


def redis_call(runner: Runner, source: dict, *commands: str) -> list[str]:
    """redis-cli in the container; the password goes on stdin (AUTH), never on a command line."""
    password = redis_password(source["config_file"])
    lines = ([f"AUTH {password}"] if password else []) + list(commands)
    out = runner.docker_out(
        ["exec", "-i", source["container"], "redis-cli"],
        stdin=("\n".join(lines) + "\n").encode(),
        what=f"Redis in container {source['container']}",
    )
    answer = out.decode(errors="replace").splitlines()
    if password:
        if not answer or answer[0].strip() != "OK":
            raise BackupError(
                f"Redis in container {source['container']} refused the password of "
                f"{source['config_file']}"
            )
        answer = answer[1:]
    return answer


def redis_estimate(runner: Runner, source: dict) -> int:
    info = redis_call(runner, source, "INFO memory")
    for line in info:
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    return 0


def redis_persistence(lines: list[str]) -> dict[str, str]:
    return dict(line.strip().split(":", 1) for line in lines if ":" in line)


def redis_saved_file(runner: Runner, source: dict, timeout: float) -> subprocess.Popen:
    """BGSAVE, wait until the save it started has completed, then stream the file out.

    Complete means LASTSAVE (rdb_last_save_time) moved past its value before the BGSAVE, or, for
    a save finishing within the same second (LASTSAVE counts whole seconds), the save counter
    rdb_saves moved; and no save in progress, and its status ok."""
    answer = redis_call(runner, source, "INFO persistence", "BGSAVE SCHEDULE")
    before = redis_persistence(answer)
    started = answer[-1] if answer else ""
    if "saving" not in started.lower():
        raise BackupError(f"Redis BGSAVE in {source['container']}: {started}")
    deadline = time.monotonic() + timeout
    while True:
        now = redis_persistence(redis_call(runner, source, "INFO persistence"))
        moved = int(now.get("rdb_last_save_time", 0)) > int(
            before.get("rdb_last_save_time", 0)
        ) or int(now.get("rdb_saves", 0)) > int(before.get("rdb_saves", 0))
        if moved and now.get("rdb_bgsave_in_progress") == "0":
            break
        if time.monotonic() > deadline:
            raise BackupError(f"Redis in {source['container']}: no save completed in {timeout} s")
        time.sleep(0.2)
    if now.get("rdb_last_bgsave_status") != "ok":
        raise BackupError(
            f"Redis in {source['container']}: the last save failed "
            f"(rdb_last_bgsave_status:{now.get('rdb_last_bgsave_status')})"
        )
    path = f"{source.get('data_dir', '/data')}/{source.get('dbfilename', 'dump.rdb')}"
    return subprocess.Popen(
        [runner.docker, "exec", source["container"], "cat", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def postgres_query(runner: Runner, source: dict, sql: str) -> str:
    out = runner.docker_out(
        [
            "exec",
            source["container"],
            "psql",
            "-U",
            source["user"],
            "-d",
            source["database"],
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
        ],
        what=f"database container {source['container']}",
    )
    return out.decode().strip()


def finish(process: subprocess.Popen, what: str) -> None:
    process.stdout.close()
    err = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        last = err.splitlines()[-1] if err else "no message"
        raise BackupError(f"{what}: exit {process.returncode}: {last}")


def volume_path(runner: Runner, volume: str) -> Path | None:
    if volume not in runner.volumes:
        try:
            out = runner.docker_out(["volume", "inspect", volume], what=f"volume {volume}")
            runner.volumes[volume] = Path(json.loads(out)[0]["Mountpoint"])
        except BackupError:
            runner.volumes[volume] = None
    return runner.volumes[volume]


def tree_size(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def flexmeasures_secrets(config_dir: Path) -> dict:
    """The secrets a restore cannot regenerate: SECRET_KEY salts every stored password."""
    cfg = config_dir / "flexmeasures.cfg"
    try:
        tree = ast.parse(cfg.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise BackupError(f"FlexMeasures config {cfg}: {exc}") from exc
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                with contextlib.suppress(ValueError):
                    values[target.id] = ast.literal_eval(node.value)
    if "SECRET_KEY" not in values:
        raise BackupError(f"FlexMeasures config {cfg} has no SECRET_KEY")
    totp = values.get("SECURITY_TOTP_SECRETS") or {}
    return {
        "flexmeasures_secret_key": values["SECRET_KEY"],
        "flexmeasures_security_totp_secret": next(iter(totp.values()), None),
    }


# ---------------------------------------------------------------------------------------------
# One backup.


def estimate_bytes(runner: Runner, sources: list[dict], facts: dict) -> int:
    """What the backup may take: sizes uncompressed (the dump is compressed: an overestimate).
    Asking also proves the database and Redis answer before anything is written."""
    total = 0
    for source in sources:
        kind = source["kind"]
        if kind == "postgres":
            # One call: the size, the server's version, and the alembic revision when the table
            # exists (query_to_xml runs the query only then).
            size, version, revision = postgres_query(
                runner,
                source,
                "select pg_database_size(current_database()) || '|'"
                " || current_setting('server_version') || '|' || coalesce(case"
                " when to_regclass('public.alembic_version') is not null then"
                " (xpath('/row/v/text()', query_to_xml('select string_agg(version_num, '','') as v"
                " from alembic_version', false, true, '')))[1]::text end, '')",
            ).split("|", 2)
            total += int(size)
            facts[source["name"]] = {
                "alembic_revision": revision or None,
                "server_version": version,
            }
        elif kind == "redis":
            total += redis_estimate(runner, source)
        elif kind == "path":
            total += tree_size(Path(source["path"]))
        elif kind == "volume":
            mount = volume_path(runner, source["volume"])
            total += tree_size(mount) if mount else 0
    return total


def write_sources(archive: Archive, runner: Runner, config: dict, facts: dict) -> list[dict]:
    report = []
    for source in config["sources"]:
        name, kind = source["name"], source["kind"]
        entry = {"name": name, "kind": kind, "status": "ok"}
        entry.update({k: v for k, v in source.items() if k not in ("name", "kind")})
        if kind == "postgres":
            dump = subprocess.Popen(
                [
                    runner.docker,
                    "exec",
                    source["container"],
                    "pg_dump",
                    "-U",
                    source["user"],
                    "-Fc",
                    source["database"],
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                size, digest = archive.add_stream(f"{name}/{source['database']}.dump", dump.stdout)
            except BaseException:
                dump.kill()
                raise
            finish(dump, f"pg_dump in {source['container']}")
            entry.update(size=size, sha256=digest, **facts.get(name, {}))
        elif kind == "redis":
            copy = redis_saved_file(runner, source, float(config.get("redis_save_timeout", 300)))
            try:
                size, digest = archive.add_stream(
                    f"{name}/{source.get('dbfilename', 'dump.rdb')}", copy.stdout
                )
            except BaseException:
                copy.kill()
                raise
            finish(copy, f"copying Redis' file out of {source['container']}")
            entry.update(size=size, sha256=digest)
        elif kind in ("path", "volume"):
            path = Path(source["path"]) if kind == "path" else volume_path(runner, source["volume"])
            if path is None or not path.exists():
                if source.get("required", False):
                    raise BackupError(
                        f"source {name}: {source.get('path') or source.get('volume')} is missing"
                    )
                entry["status"] = "absent"
            else:
                entry["type"] = "dir" if path.is_dir() else "file"
                entry["entries"] = archive.add_path(name, path, source.get("exclude", []))
                if kind == "volume":
                    entry["mountpoint"] = str(path)
        elif kind == "docker_state":
            for what, list_args in (
                ("containers", ["ps", "-aq"]),
                ("networks", ["network", "ls", "-q"]),
                ("volumes", ["volume", "ls", "-q"]),
            ):
                ids = runner.docker_out(list_args, what=f"docker {what}").decode().split()
                inspect = ["inspect"] if what == "containers" else [list_args[0], "inspect"]
                data = (
                    runner.docker_out([*inspect, *ids], what=f"docker inspect {what}")
                    if ids
                    else b"[]"
                )
                archive.add_bytes(f"{name}/{what}.json", data)
        elif kind == "flexmeasures_secrets":
            secrets = flexmeasures_secrets(Path(source["config_dir"]))
            archive.add_bytes(f"{name}/secrets.json", json.dumps(secrets).encode())
            entry["variables"] = sorted(secrets)
        else:
            raise BackupError(f"source {name}: unknown kind {kind!r}")
        report.append(entry)
    return report


def run_backup(config: dict, log: Log, backup_dir: Path) -> Path:
    runner = Runner(config.get("docker", "docker"))
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in backup_dir.glob(".*.partial"):
        stale.unlink()

    facts: dict = {}
    estimate = estimate_bytes(runner, config["sources"], facts)
    margin = int(config.get("min_free_mb", 512)) * 1024 * 1024
    free = shutil.disk_usage(backup_dir).free
    if free < estimate + margin:
        raise BackupError(
            f"not enough free space in {backup_dir}: {free // 2**20} MiB free, "
            f"{(estimate + margin) // 2**20} MiB needed (data {estimate // 2**20} MiB + "
            f"margin {margin // 2**20} MiB, min_free_mb)"
        )

    now = dt.datetime.now(dt.UTC)
    final = backup_dir / backup_name(now)
    if final.exists():
        raise BackupError(f"{final} exists already")
    partial = backup_dir / f".{final.name}.partial"
    recipients = config["recipients_file"]
    if not Path(recipients).is_file() or not Path(recipients).read_text().strip():
        raise BackupError(f"no age recipients in {recipients}: refusing to write anything")

    started = time.monotonic()
    age = subprocess.Popen(
        [config.get("age", "age"), "--encrypt", "-R", recipients, "-o", str(partial)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            archive = Archive(age.stdin)
            sources = write_sources(archive, runner, config, facts)
            archive.close(
                {
                    "format": FORMAT,
                    "created": now.isoformat(),
                    "host": socket.gethostname(),
                    "sources": sources,
                    "members": archive.members,
                }
            )
            age.stdin.close()
        except BrokenPipeError as exc:
            raise BackupError(
                "age stopped reading: " + age.stderr.read().decode(errors="replace").strip()
            ) from exc
        if age.wait() != 0:
            raise BackupError(
                f"age: exit {age.returncode}: {age.stderr.read().decode(errors='replace').strip()}"
            )
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        digest = sha256_file(partial)
        # The checksum first, then the archive under its own name: a name without its .sha256
        # is not a complete backup to anyone (list, prune, restore).
        write_atomically(
            final.with_name(final.name + ".sha256"), f"{digest}  {final.name}\n".encode(), 0o600
        )
        os.replace(partial, final)
        fsync_dir(backup_dir)
    except BaseException:
        # A killed age leaves no valid encrypted end: the partial file is removed anyway.
        if age.poll() is None:
            age.kill()
            age.wait()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    log(
        f"wrote {final} ({final.stat().st_size} bytes, sha256 {digest[:16]}...) "
        f"in {time.monotonic() - started:.1f} s"
    )
    return final


# ---------------------------------------------------------------------------------------------
# Off-host copy and pruning.


def copy_offsite(final: Path, target: str, config: dict, log: Log) -> None:
    checksum = final.with_name(final.name + ".sha256")
    if target.startswith("/"):
        directory = Path(target)
        if not directory.is_dir():
            raise BackupError(f"off-host target {target} is not a directory (not mounted?)")
        for path in (final, checksum):
            tmp = directory / f".{path.name}.partial"
            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, directory / path.name)
        fsync_dir(directory)
        if sha256_file(directory / final.name) != checksum.read_text().split()[0]:
            raise BackupError(f"off-host copy in {target} does not match its checksum")
    else:
        # rsync writes to a temporary name and renames: a broken transfer never looks complete.
        ssh = " ".join(["ssh", "-o", "BatchMode=yes", *config.get("offsite_ssh_options", [])])
        done = subprocess.run(
            ["rsync", "--times", "--chmod=F600", "-e", ssh, str(final), str(checksum), target],
            capture_output=True,
            timeout=int(config.get("offsite_timeout", 3600)),
            check=False,
        )
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise BackupError(
                f"off-host copy to {target}: rsync exit {done.returncode}: "
                f"{detail[-1] if detail else ''}"
            )
    log(f"copied {final.name} off the host to {target}")


def prune(directory: Path, config: dict, log: Log) -> list[str]:
    backups = complete_backups(directory)
    stamps = {stamp_of(p.name): p for p in backups}
    retention = config.get("retention", {})
    keep = backups_to_keep(
        stamps,
        dt.datetime.now(dt.UTC),
        timezone=config.get("timezone", "UTC"),
        daily=int(retention.get("daily", 30)),
        weekly=int(retention.get("weekly", 12)),
    )
    removed = []
    for stamp, path in sorted(stamps.items()):
        if stamp not in keep:
            path.unlink()
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
            removed.append(path.name)
    # A checksum whose archive a previous prune removed.
    for orphan in directory.glob("cariflex-*.tar.age.sha256"):
        if not orphan.with_name(orphan.name[: -len(".sha256")]).exists():
            orphan.unlink()
    if removed:
        log(
            f"pruned {len(removed)} from {directory}, kept {len(keep)}: "
            f"removed {', '.join(removed)}"
        )
    return removed


# ---------------------------------------------------------------------------------------------
# Verifying a decrypted archive (restore, on the controller).


def verify_tar(path: Path) -> dict:
    """Every member's checksum against the manifest; returns the manifest."""
    seen: dict[str, str] = {}
    manifest = None
    with tarfile.open(path, mode="r|") as tar:
        for member in tar:
            if member.name == "manifest.json":
                manifest = json.loads(tar.extractfile(member).read())
            elif member.isreg():
                digest = hashlib.sha256()
                handle = tar.extractfile(member)
                for block in iter(lambda h=handle: h.read(1024 * 1024), b""):
                    digest.update(block)
                seen[member.name] = digest.hexdigest()
    if manifest is None:
        raise BackupError(f"{path}: no manifest.json (an incomplete archive?)")
    expected = {m["name"]: m["sha256"] for m in manifest["members"]}
    if expected != seen:
        bad = sorted(set(expected.items()) ^ set(seen.items()))
        raise BackupError(f"{path}: members differ from the manifest: {bad[:5]}")
    return manifest


# ---------------------------------------------------------------------------------------------


def load_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError(f"config {path}: {exc}") from exc


def lock(path: str):
    handle = open(path, "w")  # noqa: SIM115 (held for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise BackupError(f"another backup is running (lock {path})") from exc
    return handle


def command_run(args) -> int:
    log = Log(None)
    try:
        config = load_config(args.config)
        log = Log(config.get("log_file"))
        backup_dir = Path(args.backup_dir or config["backup_dir"])
        held = lock(config.get("lock_file", "/run/lock/cariflex-backup.lock"))
        try:
            final = run_backup(config, log, backup_dir)
            target = config.get("offsite_target", "")
            if target:
                copy_offsite(final, target, config, log)
            prune(backup_dir, config, log)
            if target.startswith("/"):
                prune(Path(target), config, log)
        finally:
            held.close()
    except BackupError as exc:
        log(f"FAILED: {exc}; no backup was deleted", error=True)
        return 1
    except Exception as exc:  # one clear line for whatever went wrong
        log(f"FAILED: {type(exc).__name__}: {exc}; no backup was deleted", error=True)
        return 1
    log(f"OK {final}")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    summary = __doc__.split("\n", maxsplit=1)[0]
    parser = argparse.ArgumentParser(prog="cariflex-backup", description=summary)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="take a backup now")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.add_argument("--backup-dir", help="write this one backup there instead")
    listing = sub.add_parser("list", help="complete backups, oldest first")
    listing.add_argument("--config", default=DEFAULT_CONFIG)
    verify = sub.add_parser("verify-tar", help="check a decrypted archive against its manifest")
    verify.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "run":
        return command_run(args)
    try:
        if args.command == "list":
            config = load_config(args.config)
            for path in complete_backups(Path(config["backup_dir"])):
                print(path)
        else:
            manifest = verify_tar(Path(args.file))
            print(json.dumps({k: manifest[k] for k in ("created", "host", "sources")}))
    except BackupError as exc:
        print(f"cariflex-backup: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
