"""States of charge filed at their instants, also when the samples come late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cariflex_openadr.ven.instants import InstantSampler

T0 = datetime(2026, 11, 27, 4, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def soc(at: datetime, kw: float = 40.0, start_kwh: float = 50.0) -> float:
    """A battery charging at a constant power since T0."""
    return start_kwh + kw * (at - T0).total_seconds() / 3600


def feed(sampler: InstantSampler, times: list[datetime]) -> list[tuple[datetime, float]]:
    filed = [sampler.add(t, soc(t)) for t in times]
    return [f for f in filed if f is not None]


def test_a_stalled_report_is_filed_at_the_instant_with_the_value_of_that_instant() -> None:
    # Reports every 2 s, then nothing from 04:12:58 until 04:13:19 (a 21 s stall).
    times = [T0 + timedelta(seconds=s) for s in (0, 2, 56, 58, 79, 81, 119, 121)]
    filed = feed(InstantSampler(MINUTE), times)
    assert [at for at, _ in filed] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert [value for _, value in filed] == pytest.approx([soc(at) for at, _ in filed])
    # Filed as before (the sample's own value at the minute), the slope between the first two
    # minutes would read 40 kW x (60 + 0 - 19) / 60 = 27 kW: the failure this replaces.
    slope = (filed[1][1] - filed[0][1]) * 60
    assert slope == pytest.approx(40.0)


def test_the_first_sample_is_not_filed_at_the_instant_before_it() -> None:
    # The RMs connect 43 s into a minute and report every 2 s from then on. Filing the first
    # report's value at its minute put a later state at an earlier time: over three readings a
    # minute apart that read 40 kW as 40 x (120 - 43) / 120 = 25.7 kW, on every device alike
    # (the simulator scenario's failure under CI load). Now that minute is left without a value.
    times = [T0 + timedelta(seconds=s) for s in range(43, 43 + 180, 2)]
    filed = feed(InstantSampler(MINUTE), times)
    assert [at for at, _ in filed] == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert [value for _, value in filed] == pytest.approx([soc(at) for at, _ in filed])
    slope = (filed[-1][1] - filed[0][1]) * 60 / (len(filed) - 1)
    assert slope == pytest.approx(40.0)


def test_one_value_per_instant_and_a_sample_on_the_instant_as_it_is() -> None:
    sampler = InstantSampler(MINUTE)
    assert sampler.add(T0 + timedelta(seconds=7), 12.5) is None  # nothing before it: unknown
    assert sampler.add(T0 + timedelta(seconds=9), 12.6) is None  # still nothing surrounds T0
    assert sampler.add(T0 + MINUTE, 15.0) == (T0 + MINUTE, 15.0)  # on the instant itself
    assert sampler.add(T0 + MINUTE + timedelta(seconds=2), 15.1) is None  # filed already


def test_samples_too_far_apart_are_not_joined() -> None:
    sampler = InstantSampler(MINUTE)
    sampler.add(T0 + timedelta(seconds=50), 10.0)
    # 80 s without a report: the power may have changed in between, so the minute between them
    # gets no value (neither the late one, nor a straight line through the gap)...
    assert sampler.add(T0 + timedelta(seconds=130), 20.0) is None
    # ... and the next minute is interpolated from the samples around it as usual.
    assert sampler.add(T0 + timedelta(seconds=182), 21.0) == (
        T0 + 3 * MINUTE,
        pytest.approx(20.0 + 1.0 * 50 / 52),
    )


def test_an_older_sample_is_ignored() -> None:
    sampler = InstantSampler(MINUTE)
    sampler.add(T0 + timedelta(seconds=61), 10.0)
    assert sampler.add(T0 + timedelta(seconds=59), 9.0) is None
    # ... and does not become the point interpolated from.
    filed = sampler.add(T0 + timedelta(seconds=121), 12.0)
    assert filed == (T0 + 2 * MINUTE, pytest.approx(10.0 + 2.0 * 59 / 60))


def test_the_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        InstantSampler(timedelta(0))
