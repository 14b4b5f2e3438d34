"""Which backups to keep: a pure function, tested on its own (tests/unit/roles/backup).

The rule (issue 10): timestamps are read in the host's configured time zone; keep the newest
backup of each of the last `daily` calendar days, the newest of each of the last `weekly` ISO
weeks, and the newest of every calendar month forever. A backup kept by any rule stays. A backup
stamped later than `now` (a clock set back) is always kept: pruning never guesses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo


def _newest_per(stamps: Iterable[dt.datetime], key) -> dict:
    newest: dict = {}
    for stamp in stamps:
        k = key(stamp)
        if k not in newest or stamp > newest[k]:
            newest[k] = stamp
    return newest


def backups_to_keep(
    stamps: Iterable[dt.datetime],
    now: dt.datetime,
    timezone: str = "UTC",
    daily: int = 30,
    weekly: int = 12,
) -> set[dt.datetime]:
    """Return the subset of `stamps` (aware datetimes) to keep at `now` (aware)."""
    zone = ZoneInfo(timezone)
    stamps = list(stamps)
    for stamp in [*stamps, now]:
        if stamp.tzinfo is None:
            raise ValueError(f"naive timestamp {stamp!r}: backups are compared as instants")
    today = now.astimezone(zone).date()
    local = {stamp: stamp.astimezone(zone) for stamp in stamps}

    keep = {stamp for stamp in stamps if stamp > now}
    past = [stamp for stamp in stamps if stamp <= now]

    first_day = today - dt.timedelta(days=daily - 1)
    for day, stamp in _newest_per(past, lambda s: local[s].date()).items():
        if first_day <= day <= today:
            keep.add(stamp)

    # ISO weeks are counted back from the week holding today: its Monday, minus whole weeks.
    this_monday = today - dt.timedelta(days=today.weekday())
    first_monday = this_monday - dt.timedelta(weeks=weekly - 1)
    for (year, week), stamp in _newest_per(
        past, lambda s: local[s].date().isocalendar()[:2]
    ).items():
        monday = dt.date.fromisocalendar(year, week, 1)
        if weekly > 0 and first_monday <= monday <= this_monday:
            keep.add(stamp)

    keep.update(_newest_per(past, lambda s: (local[s].year, local[s].month)).values())
    return keep
