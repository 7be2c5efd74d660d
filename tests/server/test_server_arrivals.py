"""Arrival schedules: seeded, with the requested mean rate and burstiness."""

import itertools
import statistics

import pytest
from llem_server._arrivals import arrival_times, gaps


def _take(it, n):
    return list(itertools.islice(it, n))


@pytest.mark.parametrize("arrival", ["poisson", "gamma", "constant"])
def test_mean_gap_is_one_over_the_rate(arrival):
    g = _take(gaps(arrival, 4.0, seed=1, burstiness=0.5 if arrival == "gamma" else None), 20000)
    assert statistics.fmean(g) == pytest.approx(0.25, rel=0.03)


def test_same_seed_same_schedule_and_another_seed_differs():
    assert _take(arrival_times("poisson", 2.0, 7), 50) == _take(arrival_times("poisson", 2.0, 7), 50)
    assert _take(arrival_times("poisson", 2.0, 7), 50) != _take(arrival_times("poisson", 2.0, 8), 50)


def test_burstiness_sets_the_spread_of_gaps():
    def cv(b):
        g = _take(gaps("gamma", 1.0, seed=3, burstiness=b), 20000)
        return statistics.pstdev(g) / statistics.fmean(g)

    # gamma gaps with shape k have CV 1/sqrt(k): 0.25 is bursty (CV 2), 1 is Poisson (CV 1), 4 steady (0.5)
    assert cv(0.25) == pytest.approx(2.0, rel=0.1)
    assert cv(1.0) == pytest.approx(1.0, rel=0.05)
    assert cv(4.0) == pytest.approx(0.5, rel=0.05)


def test_constant_arrivals_are_evenly_spaced_from_the_first_gap():
    assert _take(arrival_times("constant", 2.0, 0), 3) == [0.5, 1.0, 1.5]
