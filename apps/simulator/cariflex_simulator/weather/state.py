"""The last event start posted per sensor, kept in a small JSON file: nothing is posted twice.

Written atomically (temporary file, then rename), so a crash leaves the old or the new state,
never half of one.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


class PostedState:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.last: dict[str, datetime] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.last = {name: datetime.fromisoformat(when) for name, when in raw.items()}
        except FileNotFoundError:
            self.last = {}
        except (OSError, ValueError, TypeError, AttributeError) as err:
            # Unreadable state: start over. FlexMeasures keeps one belief per source and time,
            # so a repeated value is not stored twice.
            log.error("weather state %s unreadable (%s): starting afresh", self.path, err)
            self.last = {}

    def is_new(self, quantity: str, start: datetime) -> bool:
        last = self.last.get(quantity)
        return last is None or start > last

    def mark(self, quantity: str, start: datetime) -> None:
        self.last[quantity] = start
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(
            json.dumps({k: v.isoformat() for k, v in sorted(self.last.items())}) + "\n",
            encoding="utf-8",
        )
        os.replace(partial, self.path)
