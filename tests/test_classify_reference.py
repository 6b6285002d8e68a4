"""Quantile and equal-interval bounds equal mapclassify's to the last bit (without importing it)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from geo311.site import classify

mapclassify = pytest.importorskip("mapclassify")


def samples() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    out = [
        rng.lognormal(0, 1.5, 278),  # rates per 1,000 across neighbourhoods
        rng.integers(0, 40, 199).astype(float),  # counts with many ties
        np.round(rng.normal(1, 0.3, 14), 2),  # ratios to the city
        rng.uniform(-1e6, 1e6, 57),
        np.r_[np.zeros(30), rng.random(7)],  # mostly one value
        np.array([0.1, 0.2, 0.3, 0.7, 1e-9, 3.3, 7.77, 10.0]),
    ]
    out += [rng.random(n) * 10.0 ** rng.integers(-3, 5) for n in range(6, 60, 7)]
    return out


@pytest.mark.filterwarnings("ignore:Not enough unique values")  # mapclassify's, over ties
@pytest.mark.parametrize("k", [3, 4, 5, 6, 7])
def test_bounds_equal_mapclassify(k: int) -> None:
    for y in samples():
        quantiles = classify._quantile_bounds(y, k)
        assert quantiles.tolist() == np.unique(mapclassify.Quantiles(y, k=k).bins).tolist()
        if np.unique(y).size > k:  # mapclassify's equal intervals need a range
            equal = classify._equal_interval_bounds(y, k)
            assert equal.tolist() == mapclassify.EqualInterval(y, k=k).bins.tolist()


def test_quantile_maps_do_not_import_mapclassify() -> None:
    code = (
        "import sys; from geo311.site.classify import classify; "
        "classify([1.0, 5, 2, 8, 3, 9, 4, 7], scheme='quantiles', k=4); "
        "classify([1.0, 5, 2, 8, 3, 9, 4, 7], scheme='equal_interval', k=3); "
        "print('mapclassify' in sys.modules, 'sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
