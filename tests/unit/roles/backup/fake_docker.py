"""A stand-in for the docker CLI, enough for cariflex_backup.py's calls, steered by FAKE_* vars.

Every call's argv is appended to $FAKE_ARGV_LOG, so tests can assert what a process list would
have shown.
"""

import json
import os
import sys
from pathlib import Path

args = sys.argv[1:]
state = Path(os.environ["FAKE_STATE"])
with open(os.environ["FAKE_ARGV_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def dump_bytes() -> bytes:
    size = int(os.environ.get("FAKE_DUMP_BYTES", "200000"))
    block = b"PGDMP-fake-timed_belief-rows-" + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


if args[0] == "exec":
    rest = args[1:]
    if rest[0] == "-i":
        rest = rest[1:]
    container, command = rest[0], rest[1:]
    if container in os.environ.get("FAKE_STOPPED", "").split(","):
        fail(f"Error response from daemon: Container {container} is not running")
    if command[0] == "psql":
        sql = command[-1]
        if "pg_database_size" in sql and "alembic_version" in sql and "server_version" in sql:
            print(os.environ.get("FAKE_DB_SIZE", "300000") + "|15.6|3bc1e29ca1f4")
        else:
            fail(f"fake psql: unexpected {sql}")
    elif command[0] == "pg_dump":
        data = dump_bytes()
        if os.environ.get("FAKE_DUMP_FAIL"):
            sys.stdout.buffer.write(data[: len(data) // 2])
            sys.stdout.flush()
            fail(
                "pg_dump: error: Dumping the contents of table timed_belief failed: connection lost"
            )
        sys.stdout.buffer.write(data)
    elif command[0] == "redis-cli":
        lines = sys.stdin.read().splitlines()
        if lines and lines[0].startswith("AUTH "):
            if lines[0][5:] != os.environ["FAKE_REDIS_PASSWORD"]:
                print("WRONGPASS invalid username-password pair or user is disabled.")
                sys.exit(0)
            print("OK")
            lines = lines[1:]
        else:
            print("NOAUTH Authentication required.")
            sys.exit(0)
        # A save finishes in the same second as the previous one: only rdb_saves moves.
        saves = state / "saves"
        for line in lines:
            if line == "BGSAVE SCHEDULE":
                saves.write_text(str(int(saves.read_text()) + 1 if saves.exists() else 1))
                print("Background saving started")
            elif line == "INFO memory":
                print("# Memory\nused_memory:5000")
            elif line == "INFO persistence":
                count = saves.read_text().strip() if saves.exists() else "0"
                print(
                    "# Persistence\nrdb_bgsave_in_progress:0\nrdb_last_save_time:1000\n"
                    f"rdb_saves:{count}\nrdb_last_bgsave_status:ok"
                )
    elif command[:2] == ["cat", "/data/dump.rdb"]:
        sys.stdout.buffer.write(b"REDIS0011-fake-rdb")
    else:
        fail(f"fake docker exec: unexpected {command}")
elif args[:2] == ["ps", "-aq"]:
    print("c1\nc2")
elif args[0] == "inspect":
    print(json.dumps([{"Id": i, "Name": "/" + i} for i in args[1:]]))
elif args[:3] == ["network", "ls", "-q"]:
    print("n1")
elif args[:2] == ["network", "inspect"]:
    print(json.dumps([{"Id": "n1", "Name": "cariflex-backend"}]))
elif args[:3] == ["volume", "ls", "-q"]:
    print("\n".join(p.name for p in Path(os.environ["FAKE_VOLUMES"]).iterdir()))
elif args[:2] == ["volume", "inspect"]:
    mount = Path(os.environ["FAKE_VOLUMES"]) / args[2]
    if not mount.is_dir():
        fail(f"Error response from daemon: get {args[2]}: no such volume")
    print(json.dumps([{"Name": args[2], "Mountpoint": str(mount)}]))
else:
    fail(f"fake docker: unexpected {args}")
