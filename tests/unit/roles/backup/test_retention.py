"""The backup role's pruning rule (roles/backup/files/backup_retention.py).

The expectations are written out by hand from a calendar, never computed with the function's own
logic: a wrong rule in the function cannot also be a wrong rule in the test.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[4] / "roles" / "backup" / "files"
sys.path.insert(0, str(FILES))

from backup_retention import backups_to_keep  # noqa: E402

UTC = dt.UTC


def at(day: str, hhmm: str = "02:00", tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=tz)


def days(first: str, last: str) -> list[dt.date]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


# Thursday 26 November 2026, ISO week 48 (Monday 23 November).
NOW = at("2026-11-26", "03:00")

# A small calendar where every rule shows (ISO week 37 is the 12th week back: 7..13 September).
SMALL = [
    at("2026-06-10"),  # June: newest of June is 06-30 below; dropped
    at("2026-06-30", "01:00"),  # older of two on June's last day: dropped
    at("2026-06-30", "23:00"),  # newest of June: kept (month)
    at("2026-09-13"),  # Sunday of ISO week 37 = 12th week back: kept (week)
    at("2026-09-06"),  # Sunday of week 36 = 13th week back, not the month's newest: dropped
    at("2026-09-15"),  # week 38 (14..20 September), whose newest is 09-16: dropped
    at("2026-09-16"),  # newest of week 38: kept (week)
    at("2026-09-30"),  # newest of September: kept (month); week 40's newest is 10-04
    at("2026-10-04"),  # Sunday of week 40: kept (week)
    at("2026-10-27"),  # the day before the 30-day window; week 44's newest is 11-01: dropped
    at("2026-10-28"),  # first day of the 30-day window: kept (day)
    at("2026-11-01"),  # kept (day)
    at("2026-11-26", "01:00"),  # today, older of two: dropped
    at("2026-11-26", "02:30"),  # today's newest: kept
]
SMALL_KEPT = {
    at("2026-06-30", "23:00"),
    at("2026-09-13"),
    at("2026-09-16"),
    at("2026-09-30"),
    at("2026-10-04"),
    at("2026-10-28"),
    at("2026-11-01"),
    at("2026-11-26", "02:30"),
}


def test_small_calendar_exactly():
    assert backups_to_keep(SMALL, NOW) == SMALL_KEPT


# 800 days of daily backups at 02:00 UTC, 2024-09-18 .. 2026-11-26, and a second one at 14:00 on
# a few days, some of which are kept by a rule and some not.
SECOND_ON = ["2024-09-30", "2025-02-28", "2025-06-11", "2026-10-18", "2026-10-20", "2026-11-20"]
CALENDAR = [at(d.isoformat()) for d in days("2024-09-18", "2026-11-26")] + [
    at(d, "14:00") for d in SECOND_ON
]

# Kept, worked out from a calendar by hand:
# - days: the 30 days 2026-10-28 .. 2026-11-26;
# - ISO weeks 37..48 of 2026: their Sundays before the window are 09-13, 09-20, 09-27, 10-04,
#   10-11, 10-18, 10-25 (weeks 44..48 end inside the window; week 48's newest is today);
# - months: the last day of every month from September 2024 to September 2026 (25 months);
#   October's 31st and November's 26th are in the window already.
KEPT_DAYS = (
    days("2026-10-28", "2026-11-26")
    + [dt.date(2026, 9, d) for d in (13, 20, 27)]
    + [dt.date(2026, 10, d) for d in (4, 11, 18, 25)]
    + [
        dt.date(2024, 9, 30),
        dt.date(2024, 10, 31),
        dt.date(2024, 11, 30),
        dt.date(2024, 12, 31),
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 31),
        dt.date(2025, 4, 30),
        dt.date(2025, 5, 31),
        dt.date(2025, 6, 30),
        dt.date(2025, 7, 31),
        dt.date(2025, 8, 31),
        dt.date(2025, 9, 30),
        dt.date(2025, 10, 31),
        dt.date(2025, 11, 30),
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
        dt.date(2026, 8, 31),
        dt.date(2026, 9, 30),
    ]
)


def test_800_days_exactly():
    kept = backups_to_keep(CALENDAR, NOW)
    assert len(CALENDAR) == 806
    assert len(KEPT_DAYS) == 62 == len(set(KEPT_DAYS))
    # On a kept day with two backups the later one (14:00) is the one kept.
    expected = {
        at(d.isoformat(), "14:00" if d.isoformat() in SECOND_ON else "02:00") for d in KEPT_DAYS
    }
    assert kept == expected


def test_800_days_properties():
    kept = backups_to_keep(CALENDAR, NOW)
    # Of a day with two backups, the earlier is never kept; 2025-06-11 is kept by no rule.
    for d in SECOND_ON:
        assert at(d) not in kept
    assert at("2025-06-11", "14:00") not in kept
    # Pruning again the next day keeps a subset of what was kept plus the new backup: nothing
    # dropped once is needed again, and the monthly backups stay forever.
    tomorrow = at("2026-11-27", "02:00")
    kept_next = backups_to_keep([*kept, tomorrow], at("2026-11-27", "03:00"))
    assert tomorrow in kept_next
    assert kept_next <= kept | {tomorrow}
    monthly = {at("2024-09-30", "14:00"), at("2025-02-28", "14:00"), at("2026-09-30")}
    assert monthly <= kept_next
    # A year later, with no new backups, the month ends are still there.
    assert monthly <= backups_to_keep(kept, at("2027-11-26", "03:00"))


def test_every_backup_of_a_short_history_is_kept():
    stamps = [at(d.isoformat()) for d in days("2026-11-01", "2026-11-26")]
    assert backups_to_keep(stamps, NOW) == set(stamps)


def test_future_backups_are_kept_and_naive_stamps_refused():
    future = at("2026-12-24")
    assert future in backups_to_keep([future, at("2026-11-25")], NOW)
    with pytest.raises(ValueError):
        backups_to_keep([dt.datetime(2026, 11, 25, 2)], NOW)


PARIS = "Europe/Paris"


def test_days_are_the_configured_zones_days_across_dst():
    # DST starts in Paris on Sunday 29 March 2026 at 02:00 (CET +1 -> CEST +2).
    # 28 March 23:30 UTC is 29 March 00:30 in Paris (CET): the same local day as 29 March 10:00 UTC.
    late = at("2026-03-28", "23:30")
    next_morning = at("2026-03-29", "10:00")
    now = at("2026-04-02", "12:00")
    assert backups_to_keep([late, next_morning], now, timezone="UTC") == {late, next_morning}
    assert backups_to_keep([late, next_morning], now, timezone=PARIS) == {next_morning}


def test_months_are_the_configured_zones_months_across_dst():
    # 31 March 2026 22:30 UTC is 1 April 00:30 in Paris (CEST +2): April there, March in UTC.
    march_utc = at("2026-03-31", "21:00")  # 23:00 in Paris, still March
    april_paris = at("2026-03-31", "22:30")
    now = at("2026-08-01", "12:00")  # far enough that only the monthly rule keeps anything
    assert backups_to_keep([march_utc, april_paris], now, timezone="UTC") == {april_paris}
    assert backups_to_keep([march_utc, april_paris], now, timezone=PARIS) == {
        march_utc,
        april_paris,
    }


def test_weeks_are_the_configured_zones_weeks_at_the_autumn_change():
    # DST ends in Paris on Sunday 25 October 2026 at 03:00 (CEST +2 -> CET +1).
    # 25 October 22:30 UTC is Sunday 23:30 in Paris (CET): still ISO week 43 there, week 44 is
    # Monday. 25 October 23:30 UTC is Monday 26 October 00:30 in Paris: week 44.
    sunday_paris = at("2026-10-25", "22:30")
    monday_paris = at("2026-10-25", "23:30")
    # 12 weeks back from week 53 of 2026 is week 42: weeks 43 and 44 are in; no day is.
    now = at("2027-01-02", "12:00")
    kept_paris = backups_to_keep([sunday_paris, monday_paris], now, timezone=PARIS, daily=0)
    kept_utc = backups_to_keep([sunday_paris, monday_paris], now, timezone="UTC", daily=0)
    assert kept_paris == {sunday_paris, monday_paris}  # two weeks, one each
    assert kept_utc == {monday_paris}  # both on Sunday 25 October in UTC
