"""Where FlexMeasures in this container takes SECRET_KEY from, and the key's SHA-256.

Run inside the server container (python -, on stdin) by roles/adopt. Prints one JSON line; never
the key. FlexMeasures' own order: the config file (~/.flexmeasures.cfg, else the instance
folder's flexmeasures.cfg), then the SECRET_KEY environment variable, then the instance folder's
secret_key file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def instance_path() -> str:
    try:
        from flask import Flask

        return Flask("flexmeasures").instance_path
    except ImportError:
        return "/app/instance"


def from_config(path: Path):
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace.get("SECRET_KEY")


def find() -> tuple[str | None, bytes | None]:
    instance = Path(instance_path())
    home_cfg = Path.home() / ".flexmeasures.cfg"
    config = home_cfg if home_cfg.exists() else instance / "flexmeasures.cfg"
    if config.exists():
        key = from_config(config)
        if key is not None:
            return f"SECRET_KEY in {config}", key if isinstance(key, bytes) else str(key).encode()
    if os.environ.get("SECRET_KEY") is not None:
        return "the SECRET_KEY environment variable", os.environ["SECRET_KEY"].encode()
    key_file = instance / "secret_key"
    if key_file.exists():
        return f"the file {key_file}", key_file.read_bytes()
    return None, None


source, key = find()
print(json.dumps({"source": source, "sha256": hashlib.sha256(key).hexdigest() if key else None}))
