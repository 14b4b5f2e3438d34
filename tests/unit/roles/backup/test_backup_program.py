"""roles/backup/files/cariflex_backup.py end to end on this machine: a fake docker CLI
(fake_docker.py) and the real age. The Molecule scenario `backup` runs it against real containers.

Needs age (Debian package `age`, in scripts/host-packages.txt). Without it these tests skip,
unless CARIFLEX_REQUIRE_AGE=1 (make backup-tests sets it), where they fail instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILES = HERE.parents[3] / "roles" / "backup" / "files"
PROGRAM = FILES / "cariflex_backup.py"
sys.path.insert(0, str(FILES))

import cariflex_backup  # noqa: E402

if not shutil.which("age") or not shutil.which("age-keygen"):
    if os.environ.get("CARIFLEX_REQUIRE_AGE") == "1":
        raise RuntimeError("age is not installed (apt-get install age, or make host-deps)")
    pytest.skip("age is not installed (make host-deps)", allow_module_level=True)

SECRET_KEY = "the-secret-key-that-salts-every-password-0123456789"
REDIS_PASSWORD = "redis-password-never-on-a-command-line"


def keypair(path: Path) -> str:
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(
        ["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def host(tmp_path):
    """A host's files, a fake engine, a key pair whose private half the 'host' never sees."""
    etc = tmp_path / "etc"
    fm = etc / "flexmeasures"
    fm.mkdir(parents=True)
    (fm / "flexmeasures.cfg").write_text(
        f'SECRET_KEY = "{SECRET_KEY}"\nSECURITY_TOTP_SECRETS = {{"1": "totp-secret"}}\n'
        f'FLEXMEASURES_REDIS_PASSWORD = "{REDIS_PASSWORD}"\n'
    )
    (fm / "redis.conf").write_text(f"port 6379\nrequirepass {REDIS_PASSWORD}\n")
    wg = etc / "wireguard"
    wg.mkdir()
    (wg / "wg0.conf").write_text("[Interface]\nListenPort = 51820\n")
    (wg / "wg0.key").write_text("PRIVATE-WG-KEY\n")
    volumes = tmp_path / "volumes"
    ven = volumes / "openadr-ven-data"
    ven.mkdir(parents=True)
    outbox = sqlite3.connect(ven / "outbox.sqlite3")
    outbox.execute("create table post (id integer primary key, body text)")
    outbox.execute("insert into post (body) values ('undelivered value 42')")
    outbox.commit()
    outbox.close()
    state = tmp_path / "state"
    state.mkdir()
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\nexec {sys.executable} {HERE / "fake_docker.py"} "$@"\n')
    docker.chmod(0o755)
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(keypair(tmp_path / "controller-key.txt") + "\n")
    config = {
        "backup_dir": str(tmp_path / "backups"),
        "recipients_file": str(recipients),
        "log_file": str(tmp_path / "backup.log"),
        "lock_file": str(tmp_path / "lock"),
        "timezone": "UTC",
        "retention": {"daily": 30, "weekly": 12},
        "min_free_mb": 1,
        "offsite_target": "",
        "docker": str(docker),
        "sources": [
            {
                "name": "flexmeasures-db",
                "kind": "postgres",
                "container": "flexmeasures-db",
                "database": "flexmeasures",
                "user": "flexmeasures",
            },
            {
                "name": "flexmeasures-redis",
                "kind": "redis",
                "container": "flexmeasures-redis",
                "config_file": str(fm / "redis.conf"),
            },
            {"name": "flexmeasures-config", "kind": "path", "path": str(fm)},
            {"name": "flexmeasures-secrets", "kind": "flexmeasures_secrets", "config_dir": str(fm)},
            {"name": "openadr-ven-data", "kind": "volume", "volume": "openadr-ven-data"},
            {"name": "openadr-vtn-data", "kind": "volume", "volume": "openadr-vtn-data"},
            {"name": "wireguard", "kind": "path", "path": str(wg), "exclude": ["*.key"]},
            {"name": "docker", "kind": "docker_state"},
        ],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = dict(
        os.environ,
        FAKE_STATE=str(state),
        FAKE_ARGV_LOG=str(tmp_path / "argv.log"),
        FAKE_VOLUMES=str(volumes),
        FAKE_REDIS_PASSWORD=REDIS_PASSWORD,
    )
    return {"dir": tmp_path, "config": config, "env": env}


def run(host, *extra, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROGRAM), "run", "--config", str(host["dir"] / "config.json"), *extra],
        env={**host["env"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def backups(host) -> list[Path]:
    directory = Path(host["config"]["backup_dir"])
    return sorted(directory.iterdir()) if directory.exists() else []


def decrypt(host, archive: Path, key: str = "controller-key.txt") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["age", "--decrypt", "-i", str(host["dir"] / key), str(archive)],
        capture_output=True,
        check=False,
    )


def test_a_backup_holds_everything_encrypted_and_checksummed(host):
    done = run(host)
    assert done.returncode == 0, done.stderr
    files = backups(host)
    assert len(files) == 2, files
    assert files[0].name.endswith(".tar.age") and files[1].name == files[0].name + ".sha256"
    archive, checksum = files
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    digest, name = checksum.read_text().split()
    assert name == archive.name and digest == hashlib.sha256(archive.read_bytes()).hexdigest()

    plain = decrypt(host, archive)
    assert plain.returncode == 0, plain.stderr
    tar_path = host["dir"] / "plain.tar"
    tar_path.write_bytes(plain.stdout)
    manifest = cariflex_backup.verify_tar(tar_path)
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        dump = b"".join(
            tar.extractfile(n).read()
            for n in sorted(n for n in names if n.startswith("flexmeasures-db/flexmeasures.dump."))
        )
        secrets = json.loads(tar.extractfile("flexmeasures-secrets/secrets.json").read())
        rdb = tar.extractfile("flexmeasures-redis/dump.rdb.000000").read()
        outbox_bytes = tar.extractfile("openadr-ven-data/outbox.sqlite3").read()
        containers = json.loads(tar.extractfile("docker/containers.json").read())
    assert len(dump) == 200000 and dump.startswith(b"PGDMP-fake")
    assert secrets["flexmeasures_secret_key"] == SECRET_KEY
    assert secrets["flexmeasures_security_totp_secret"] == "totp-secret"
    assert rdb == b"REDIS0011-fake-rdb"
    assert [c["Id"] for c in containers] == ["c1", "c2"]
    # The VEN's undelivered values: a consistent sqlite copy, readable.
    snapshot = host["dir"] / "outbox.sqlite3"
    snapshot.write_bytes(outbox_bytes)
    assert sqlite3.connect(snapshot).execute("select body from post").fetchall() == [
        ("undelivered value 42",)
    ]
    # WireGuard's private key stays on the host (the wireguard role's contract).
    assert "wireguard/wg0.conf" in names and "wireguard/wg0.key" not in names
    by_name = {s["name"]: s for s in manifest["sources"]}
    assert by_name["openadr-vtn-data"]["status"] == "absent"
    assert by_name["flexmeasures-db"]["alembic_revision"] == "3bc1e29ca1f4"
    assert by_name["flexmeasures-db"]["sha256"] == hashlib.sha256(dump).hexdigest()
    # Nothing readable without the key, and the Redis password never on a command line.
    assert SECRET_KEY.encode() not in archive.read_bytes()
    assert b"PGDMP-fake" not in archive.read_bytes()
    assert REDIS_PASSWORD not in (host["dir"] / "argv.log").read_text()
    assert "OK " in done.stdout and "wrote " in (host["dir"] / "backup.log").read_text()


def test_another_key_cannot_read_it(host):
    assert run(host).returncode == 0
    keypair(host["dir"] / "other-key.txt")
    attempt = decrypt(host, backups(host)[0], key="other-key.txt")
    assert attempt.returncode != 0
    assert b"no identity matched" in attempt.stderr
    assert attempt.stdout == b""


def older_backups(host, count: int = 3) -> dict[str, bytes]:
    """Complete-looking older backups (the program only reads their names and checksum files)."""
    directory = Path(host["config"]["backup_dir"])
    directory.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    made = {}
    for n in range(1, count + 1):
        name = cariflex_backup.backup_name(now - dt.timedelta(days=n))
        (directory / name).write_bytes(f"older {n}".encode())
        (directory / (name + ".sha256")).write_text(f"{'0' * 64}  {name}\n")
    for path in directory.iterdir():
        made[path.name] = path.read_bytes()
    return made


def assert_failed_cleanly(host, done, before: dict[str, bytes], words: str) -> None:
    assert done.returncode == 1
    failed = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and words in failed[0], done.stderr
    assert failed[0] in (host["dir"] / "backup.log").read_text()
    after = {p.name: p.read_bytes() for p in backups(host)}
    assert after == before, "a file was added, changed or removed"


def test_database_failing_mid_dump_leaves_nothing_and_keeps_older_backups(host):
    before = older_backups(host)
    done = run(host, FAKE_DUMP_FAIL="1")
    assert_failed_cleanly(host, done, before, "pg_dump in flexmeasures-db: exit 1")


def test_database_container_stopped(host):
    before = older_backups(host)
    done = run(host, FAKE_STOPPED="flexmeasures-db")
    assert_failed_cleanly(host, done, before, "database container flexmeasures-db")
    assert "is not running" in done.stderr


def test_full_disk_is_found_before_writing(host):
    before = older_backups(host)
    config = dict(host["config"], min_free_mb=10**9)  # a petabyte of margin
    (host["dir"] / "config.json").write_text(json.dumps(config))
    done = run(host)
    assert_failed_cleanly(host, done, before, "not enough free space")


def test_wrong_redis_password_fails(host):
    before = older_backups(host)
    done = run(host, FAKE_REDIS_PASSWORD="another")
    assert_failed_cleanly(host, done, before, "refused the password")


def test_no_recipient_writes_nothing(host):
    before = older_backups(host)
    Path(host["config"]["recipients_file"]).write_text("")
    done = run(host)
    assert_failed_cleanly(host, done, before, "no age recipients")


def test_success_prunes_by_the_retention_rule_and_copies_off_host(host):
    directory = Path(host["config"]["backup_dir"])
    directory.mkdir()
    now = dt.datetime.now(dt.UTC)
    # Two on each of the last three days (UTC, the config's zone): the earlier of each goes, the
    # later stays. Anchored at noon: hours before `now` would cross midnight early in the day.
    for n in (1, 2, 3):
        noon = (now - dt.timedelta(days=n)).replace(hour=12, minute=0, second=0, microsecond=0)
        for hours in (1, 5):
            name = cariflex_backup.backup_name(noon - dt.timedelta(hours=hours))
            (directory / name).write_bytes(b"x")
            (directory / (name + ".sha256")).write_text(f"{'0' * 64}  {name}\n")
    # A stale partial of a killed run, and an archive without its checksum: neither is a backup.
    (directory / ".cariflex-20200101T000000Z.tar.age.partial").write_bytes(b"half")
    offsite = host["dir"] / "offsite"
    offsite.mkdir()
    config = dict(host["config"], offsite_target=str(offsite))
    (host["dir"] / "config.json").write_text(json.dumps(config))
    done = run(host)
    assert done.returncode == 0, done.stderr
    archives = [p for p in directory.iterdir() if p.name.endswith(".tar.age")]
    kept_days = sorted(cariflex_backup.stamp_of(p.name) for p in archives)
    assert len(kept_days) == 4  # today's new one and one per earlier day
    assert not list(directory.glob(".*.partial"))
    assert "pruned 3" in done.stdout
    newest = max(archives, key=lambda p: p.name)
    copy = offsite / newest.name
    assert copy.read_bytes() == newest.read_bytes()
    assert (offsite / (newest.name + ".sha256")).read_text() == (
        directory / (newest.name + ".sha256")
    ).read_text()


def test_unreachable_off_host_target_fails_and_prunes_nothing(host):
    before = older_backups(host)
    config = dict(host["config"], offsite_target=str(host["dir"] / "not-mounted"))
    (host["dir"] / "config.json").write_text(json.dumps(config))
    done = run(host)
    assert done.returncode == 1
    assert "off-host target" in done.stderr
    # The local backup is complete (written before the copy), and nothing older was touched.
    after = {p.name: p.read_bytes() for p in backups(host)}
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 2


def test_only_named_checksummed_archives_count(tmp_path):
    good = cariflex_backup.backup_name(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    (tmp_path / good).write_bytes(b"x")
    (tmp_path / (good + ".sha256")).write_text("x")
    lonely = cariflex_backup.backup_name(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    (tmp_path / lonely).write_bytes(b"x")  # no .sha256: renamed before its checksum? never
    (tmp_path / f".{good}.partial").write_bytes(b"x")
    assert [p.name for p in cariflex_backup.complete_backups(tmp_path)] == [good]


def test_verify_tar_finds_a_changed_member(tmp_path):
    data = b"abc"
    manifest = {
        "created": "x",
        "host": "h",
        "sources": [],
        "members": [{"name": "a/b", "size": 3, "sha256": hashlib.sha256(b"abd").hexdigest()}],
    }
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w") as tar:
        for name, payload in (("a/b", data), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(cariflex_backup.BackupError, match="differ from the manifest"):
        cariflex_backup.verify_tar(path)
