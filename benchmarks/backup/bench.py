#!/usr/bin/env python3
"""Backup and restore with 1 million readings, next to a plain pg_dump of the same database.

Runs against a converged test host that the Molecule scenario `backup` left running:

    KEEP=1 make scenario S=backup          # leaves cariflex-backup up, FlexMeasures restored in it
    .venv/bin/python benchmarks/backup/bench.py [--host cariflex-backup] [--readings 1000000]

Steps: fills timed_belief up to --readings rows (SQL generate_series over 10 sensors, quarter
hours, one data source); times `pg_dump -Fc` to a file (the plain dump), then `cariflex-backup
run` (pg_dump + Redis + files, through age, with checksums) with a key pair of its own; then the
role's restore tasks (fetch, decrypt on the controller, verify, upload, drop/create/pg_restore,
Redis, files) through ansible-playbook; and checks the row count after. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PSQL = ["docker", "exec", "flexmeasures-db", "psql", "-U", "flexmeasures", "-d", "flexmeasures"]


def on_host(host: str, *argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["docker", "exec", "-i", host, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)[:80]}: exit {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def sql(host: str, query: str) -> str:
    return on_host(host, *PSQL, "-v", "ON_ERROR_STOP=1", "-tAc", query).strip()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.monotonic()
        result = fn()
        times.append(time.monotonic() - t0)
    return statistics.median(times), result


def fill(host: str, readings: int) -> int:
    have = int(sql(host, "select count(*) from timed_belief"))
    if have >= readings:
        return have
    source = sql(host, "select min(id) from data_source")
    if not source:
        raise SystemExit("no data source: run the scenario with KEEP=1 first (it posts readings)")
    per_sensor = (readings - have) // 10 + 1
    sql(
        host,
        "insert into timed_belief (event_start, belief_horizon, cumulative_probability,"
        " event_value, sensor_id, source_id)"
        f" select timestamptz '2018-01-01 00:00+00' + n * interval '15 minutes', interval '0', 0.5,"
        f" round((random() * 100)::numeric, 3), s.id, {source}"
        f" from generate_series(1, {per_sensor}) n"
        " cross join (select id from sensor order by id limit 10) s on conflict do nothing",
    )
    sql(host, "vacuum analyze timed_belief")
    return int(sql(host, "select count(*) from timed_belief"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="cariflex-backup")
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-restore", action="store_true")
    args = parser.parse_args()
    host = args.host

    rows = fill(host, args.readings)
    db_bytes = int(sql(host, "select pg_database_size(current_database())"))

    def plain():
        on_host(
            host,
            "bash",
            "-c",
            "docker exec flexmeasures-db pg_dump -U flexmeasures -Fc flexmeasures"
            " > /var/tmp/plain.dump",
        )
        return int(on_host(host, "stat", "-c", "%s", "/var/tmp/plain.dump"))

    plain_s, plain_bytes = timed(plain, args.repeat)

    with tempfile.TemporaryDirectory(prefix="cariflex-bench-") as tmp:
        key = Path(tmp) / "key.txt"
        subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
        public = subprocess.run(
            ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
        ).stdout
        config = json.loads(on_host(host, "cat", "/etc/cariflex/backup/config.json"))
        config.update(
            backup_dir="/var/tmp/bench-backups",
            recipients_file="/var/tmp/bench-recipients.txt",
            offsite_target="",
            min_free_mb=0,
            log_file="/var/tmp/bench-backup.log",
        )
        on_host(host, "rm", "-rf", "/var/tmp/bench-backups")
        on_host(host, "bash", "-c", "cat > /var/tmp/bench-recipients.txt", stdin=public)
        on_host(host, "bash", "-c", "cat > /var/tmp/bench-config.json", stdin=json.dumps(config))

        def backup():
            on_host(host, "cariflex-backup", "run", "--config", "/var/tmp/bench-config.json")
            newest = on_host(
                host, "bash", "-c", "ls -1 /var/tmp/bench-backups/cariflex-*.tar.age | tail -n1"
            ).strip()
            time.sleep(1.1)  # one archive per second at most (names are per second)
            return newest, int(on_host(host, "stat", "-c", "%s", newest))

        backup_s, (archive, archive_bytes) = timed(backup, args.repeat)

        # The same with the database alone: what streaming through age and hashing costs next to
        # the plain dump, without the fixed costs of Redis' save, the files and docker inspect.
        db_only = dict(config, sources=[s for s in config["sources"] if s["kind"] == "postgres"])
        on_host(host, "bash", "-c", "cat > /var/tmp/bench-config.json", stdin=json.dumps(db_only))
        db_s, (_, db_bytes_archive) = timed(backup, args.repeat)
        on_host(host, "bash", "-c", "cat > /var/tmp/bench-config.json", stdin=json.dumps(config))

        inventory = Path(tmp) / "inventory.yml"
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {
                            host: {
                                "ansible_connection": "community.docker.docker_api",
                                "ansible_python_interpreter": "/usr/bin/python3",
                            }
                        }
                    }
                }
            )
        )
        playbook = Path(tmp) / "restore.yml"
        playbook.write_text(
            json.dumps(
                [
                    {
                        "name": "Restore (the role's tasks, as playbooks/restore.yml runs them)",
                        "hosts": host,
                        "gather_facts": False,
                        "tasks": [
                            {
                                "name": "Restore",
                                "ansible.builtin.include_role": {
                                    "name": "digitribe.cariflex.backup",
                                    "tasks_from": "restore.yml",
                                },
                            }
                        ],
                    }
                ]
            )
        )
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
        t0 = time.monotonic()
        done = subprocess.run(
            ["true"]
            if args.skip_restore
            else [
                str(ROOT / ".venv" / "bin" / "ansible-playbook"),
                "-i",
                str(inventory),
                str(playbook),
                "-e",
                json.dumps(
                    {
                        "backup_restore_confirm": "yes",
                        "backup_restore_identity_file": str(key),
                        "backup_restore_archive": archive,
                        "backup_dir": "/var/tmp/bench-backups",
                    }
                ),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        restore_s = time.monotonic() - t0
        if done.returncode != 0:
            print(done.stdout[-4000:], file=sys.stderr)
            raise SystemExit("restore failed")
    rows_after = int(sql(host, "select count(*) from timed_belief"))
    load = os.getloadavg()[0]
    print(f"| readings | {rows} (after restore: {rows_after}) |")
    print(f"| database size | {db_bytes / 2**20:.0f} MiB |")
    print(f"| plain `pg_dump -Fc` | {plain_s:.1f} s, {plain_bytes / 2**20:.1f} MiB |")
    print(
        f"| `cariflex-backup run` | {backup_s:.1f} s ({backup_s / plain_s:.2f}x),"
        f" {archive_bytes / 2**20:.1f} MiB |"
    )
    print(
        f"| `cariflex-backup run`, database source only | {db_s:.1f} s ({db_s / plain_s:.2f}x),"
        f" {db_bytes_archive / 2**20:.1f} MiB |"
    )
    if not args.skip_restore:
        print(f"| restore (role's tasks, decrypt on controller) | {restore_s:.1f} s |")
    print(f"| load average (1 min) at the end | {load:.1f} |")
    return 0 if rows_after == rows else 1


if __name__ == "__main__":
    sys.exit(main())
