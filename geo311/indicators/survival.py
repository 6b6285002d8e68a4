"""Kaplan-Meier and Nelson-Aalen curves for many groups at once, vectorised.

Time to close a 311 request is a survival problem: a request still open at
the export time has a duration that is only known to be *at least*
``as_of - created`` (right-censored).  :func:`survival_curves` estimates one
curve per group (area, service type, ...) in a single pass over arrays sorted
by group and then time; nothing loops over requests or over groups.  The only
Python loops run over bit positions of a vectorised binary search and over
at most ~20 length classes of the segmented cumulative sums.

Conventions (those of lifelines' ``KaplanMeierFitter``, which the tests use
as the reference and match to 1e-9; the arithmetic is done in the same order
so results agree to the last bit):

* Every non-empty group's timeline starts with a row at time 0 and holds each
  distinct duration once.  At a time with both closures and censored
  requests, the closures happen first (censored requests are still at risk).
* ``S(t) = exp(sum_{t_j <= t} [log(n_j - d_j) - log(n_j)])`` with ``n_j`` at
  risk and ``d_j`` events at ``t_j``.
* Greenwood sum ``V(t) = sum d_j / (n_j (n_j - d_j))`` (a step where every
  subject at risk fails adds 0).
* Pointwise confidence bands on the log(-log) scale ("exponential
  Greenwood"): ``exp(-exp(log(-log S) -/+ z sqrt(V) / log S))``; where
  ``S = 1`` the band is 1.
* Quantile ("time at survival level ``q``"): the first timeline time at
  which the curve is ``<= q``, *not reached* when the curve ends above ``q``.
  The median's confidence interval is the time at which each band reaches
  0.5.  The bands need not be monotone; like lifelines the crossing is
  found by binary search on the stored timeline, so the result is identical
  to lifelines even then.  Where ``S`` equals exactly 0.5 in exact arithmetic
  over an interval (say 3 of 6 closed), the rounding of the floating-point
  product decides between the interval's start and the next event time --
  as in lifelines, whose arithmetic is reproduced bit for bit (R's
  ``survfit`` takes the midpoint there instead).
* ``S`` between timeline points is the value at the last point ``<= t``
  (a step function, no interpolation).
* Nelson-Aalen cumulative hazard ``H(t) = sum_{t_j <= t} d_j / n_j`` (ties
  not smoothed; lifelines ``NelsonAalenFitter(nelson_aalen_smoothing=False)``).
  Over the observations that built a curve, ``sum_i H(t_i)`` equals the
  number of events exactly, which is what makes observed/expected ratios
  against it balance (see :mod:`geo311.indicators.time_to_close`).

Examples
--------
>>> import numpy as np
>>> curves = survival_curves(
...     np.array([1.0, 2.0, 2.0, 5.0, 3.0]),
...     np.array([True, True, False, True, True]),
...     groups=np.array([0, 0, 0, 0, 1]),
... )
>>> curves.median().tolist()
[2.0, 3.0]
>>> curves.survival_at([2.0]).round(3).tolist()
[[0.5], [1.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import InputError, OptionError
from geo311.indicators._stats import z_value

__all__ = ["SurvivalCurves", "TimeOrder", "survival_curves"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: positions (int32 when they fit, see survival_curves)
PositionArray = npt.NDArray[np.signedinteger[Any]]
BoolArray = npt.NDArray[np.bool_]


#: Segments at least this long are summed one by one (``np.cumsum`` on the slice):
#: at most ``len(values) / _LONG_SEGMENT`` Python iterations, each over >= 512 values.
_LONG_SEGMENT = 512


def _segmented_cumsum(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Cumulative sums that restart at every segment ``offsets[g]:offsets[g + 1]``.

    Each segment is summed strictly left to right from its own first element,
    so the result is bit-for-bit what ``np.cumsum`` gives on the segment
    alone: long segments are exactly that (``np.cumsum`` of the slice; there
    are at most ``len(values) / 512`` of them), short ones are summed along
    the rows of zero-padded blocks, one block per length class ``(2**(k-1),
    2**k]``, so padding at most doubles the memory of a class and the loop
    runs once per class (at most 10 classes).
    """
    out = np.empty_like(values)
    lengths = np.diff(offsets)
    for seg in np.flatnonzero(lengths >= _LONG_SEGMENT):
        start, stop = offsets[seg], offsets[seg + 1]
        np.cumsum(values[start:stop], out=out[start:stop])
    short = np.flatnonzero((lengths > 0) & (lengths < _LONG_SEGMENT))
    if short.size == 0:
        return out
    classes = np.ceil(np.log2(lengths[short])).astype(np.int64)
    for cls in np.unique(classes):
        segs = short[classes == cls]
        seg_len = lengths[segs]
        width = int(seg_len.max())
        # position of every value within its segment, its source and its cell in the block
        first = np.cumsum(seg_len) - seg_len
        within = np.arange(int(seg_len.sum())) - np.repeat(first, seg_len)
        source = np.repeat(offsets[segs], seg_len) + within
        cell = np.repeat(np.arange(segs.size) * width, seg_len) + within
        block = np.zeros(segs.size * width)
        block[cell] = values[source]
        out[source] = np.cumsum(block.reshape(segs.size, width), axis=1).ravel()[cell]
    return out


def _bisect(
    lo: IntArray, hi: IntArray, go_right: Callable[[IntArray, BoolArray], BoolArray]
) -> IntArray:
    """Vectorised ``bisect``: for each search, the first index in ``[lo, hi)`` failing the test.

    ``go_right(mid, active)`` returns, for the active searches, whether the
    answer lies right of ``mid`` -- the loop of numpy's ``searchsorted``
    (``mid = lo + (hi - lo) // 2``), run on every search at once.
    """
    lo = lo.copy()
    hi = hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = lo + ((hi - lo) >> 1)
        right = np.zeros(lo.shape, dtype=bool)
        right[active] = go_right(mid[active], active)
        step = active & right
        lo[step] = mid[step] + 1
        stay = active & ~right
        hi[stay] = mid[stay]


class TimeOrder(NamedTuple):
    """Observations sorted by duration once, for several fits of the same observations.

    Passed as ``order`` to :func:`survival_curves`, a fit reads the durations
    and events in time order from here instead of gathering them from the
    whole arrays (for one group, no gather at all).
    """

    #: the indices that sort the durations ascending (``numpy.argsort(durations)``)
    positions: PositionArray
    #: ``durations[positions]``
    durations: FloatArray
    #: ``events[positions]``
    events: BoolArray


@dataclass(frozen=True, eq=False)
class SurvivalCurves:
    """Kaplan-Meier and Nelson-Aalen estimates for ``n_groups`` groups, stored as one table.

    Rows are the distinct ``(group, time)`` pairs (plus time 0 for every
    non-empty group), sorted by group, then time; group ``g`` owns rows
    ``offsets[g]:offsets[g + 1]`` (none when the group had no observations).

    Attributes
    ----------
    n_groups : int
        Number of groups, including empty ones.
    offsets : numpy.ndarray of int64, shape (n_groups + 1,)
        Row offsets of the groups.
    group, time : numpy.ndarray
        Group code and time of each row.
    at_risk, events, censored : numpy.ndarray of int32 (int64 beyond 2**31 observations)
        Subjects at risk just before the row's time, events and censorings at it.
    survival : numpy.ndarray of float64
        Kaplan-Meier ``S(t)`` at the row's time (after its events).
    greenwood : numpy.ndarray of float64
        Cumulative Greenwood sum ``sum d / (n (n - d))``.
    cumulative_hazard : numpy.ndarray of float64
        Nelson-Aalen ``H(t) = sum d / n``.
    observation_rows : numpy.ndarray of int32 (int64 beyond 2**31 observations)
        For each input observation (in input order), the row of its group and time.
    events_before : numpy.ndarray of int64, shape (rows + 1,)
        Events in the rows before each row (all groups, in table order).

    ``survival``, ``greenwood``, ``cumulative_hazard``, ``observation_rows``
    and ``events_before`` are computed when first read (a type adjustment
    reads only the hazard at the observations, a per-area table never reads
    it); :meth:`survival_of` evaluates ``S`` at the rows asked for only (the
    median, p90 and their intervals read a few rows per group).
    """

    n_groups: int
    offsets: IntArray
    group: PositionArray
    time: FloatArray
    at_risk: PositionArray
    events: PositionArray
    censored: PositionArray
    #: the sort of the fit: input position of each sorted entry (>= n: a time-0 row)
    sort: PositionArray = field(repr=False)
    #: whether each sorted entry opens a row of the table
    opens_row: BoolArray = field(repr=False)

    # ------------------------------------------------------------ the curves, when first read

    @cached_property
    def _log_survival(self) -> FloatArray:
        """``log S(t)`` at each row: the cumulated ``log(n - d) - log(n)``.

        The logarithms are read from a table of ``log(k)`` for every count
        ``k`` up to the largest at risk: the same values as ``np.log`` of the
        counts, computed once per count rather than twice per row.
        """
        largest = int(self.at_risk.max()) if self.at_risk.size else 0
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.arange(largest + 1, dtype=np.float64))
            log_step = logs[self.at_risk - self.events] - logs[self.at_risk]
        return _segmented_cumsum(log_step, self.offsets)

    @cached_property
    def survival(self) -> FloatArray:
        """Kaplan-Meier ``S(t)`` at each row's time (after its events)."""
        return np.exp(self._log_survival)

    def survival_of(self, rows: IntArray) -> FloatArray:
        """Return ``S(t)`` at these rows of the table (the values of :attr:`survival`).

        Evaluated at the rows only, unless the whole curve was already read.
        """
        if "survival" in self.__dict__:
            return self.survival[rows]
        return np.exp(self._log_survival[rows])

    @cached_property
    def greenwood(self) -> FloatArray:
        """Cumulative Greenwood sum ``sum d / (n (n - d))`` at each row."""
        n_f = self.at_risk.astype(np.float64)
        d_f = self.events.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            var_step = d_f / (n_f * (n_f - d_f))
        var_step[np.isinf(var_step)] = 0.0
        return _segmented_cumsum(var_step, self.offsets)

    @cached_property
    def cumulative_hazard(self) -> FloatArray:
        """Nelson-Aalen ``H(t) = sum d / n`` at each row."""
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard_step = self.events.astype(np.float64) / self.at_risk.astype(np.float64)
        return _segmented_cumsum(hazard_step, self.offsets)

    @cached_property
    def observation_rows(self) -> PositionArray:
        """For each input observation (in input order), the row of its group and time."""
        n = self.sort.size - int(np.count_nonzero(np.diff(self.offsets)))
        is_obs = self.sort < n
        rows = np.cumsum(self.opens_row, dtype=self.sort.dtype)
        rows -= 1
        out = np.empty(n, dtype=self.sort.dtype)
        out[self.sort[is_obs]] = rows[is_obs]
        return out

    @cached_property
    def events_before(self) -> IntArray:
        """Events in the rows before each row, all groups in table order (one more value: all).

        The ``k``-th event of the table (from 0) is at the last row ``r`` with
        ``events_before[r] <= k``; a group's events up to row ``r`` are
        ``events_before[r + 1] - events_before[offsets[g]]``.
        """
        out = np.zeros(self.events.size + 1, dtype=np.int64)
        np.cumsum(self.events, out=out[1:])
        return out

    # ------------------------------------------------------------ per-group sizes

    @property
    def n_observations(self) -> IntArray:
        """Observations per group (subjects at risk at time 0)."""
        out = np.zeros(self.n_groups, dtype=np.int64)
        has = np.diff(self.offsets) > 0
        out[has] = self.at_risk[self.offsets[:-1][has]]
        return out

    @property
    def n_events(self) -> IntArray:
        """Events (closures) per group."""
        return np.bincount(self.group, weights=self.events, minlength=self.n_groups).astype(
            np.int64
        )

    def _empty(self) -> BoolArray:
        return np.diff(self.offsets) == 0

    # ------------------------------------------------------------ evaluation

    def _rows_at(self, groups: IntArray, times: FloatArray) -> IntArray:
        """Row of the last timeline point ``<= t`` in each query's group; -1 when none.

        This is ``Series.asof`` on each group's curve, for every query at once.
        """
        lo = self.offsets[groups]
        hi = self.offsets[groups + 1]
        first_after = _bisect(lo, hi, lambda mid, active: self.time[mid] <= times[active])
        return np.where(first_after > lo, first_after - 1, -1)

    def survival_at(self, times: npt.ArrayLike) -> FloatArray:
        """Return ``S(t)`` for every group at every time in ``times``.

        Parameters
        ----------
        times : array_like of float
            Times (same unit as the durations).

        Returns
        -------
        numpy.ndarray, shape (n_groups, len(times))
            NaN for an empty group or a negative time (before the timeline),
            as lifelines' ``survival_function_at_times``.
        """
        t = np.atleast_1d(np.asarray(times, dtype=float))
        groups = np.repeat(np.arange(self.n_groups), t.size)
        query = np.tile(t, self.n_groups)
        row = self._rows_at(groups, query)
        out = np.full(query.size, np.nan)
        ok = row >= 0
        out[ok] = self.survival[row[ok]]
        return out.reshape(self.n_groups, t.size)

    def cumulative_hazard_at(self, groups: npt.ArrayLike, times: npt.ArrayLike) -> FloatArray:
        """Return the Nelson-Aalen ``H(t)`` of group ``groups[i]`` at ``times[i]``, pairwise.

        Parameters
        ----------
        groups : array_like of int
            Group code of each query (``0 <= g < n_groups``).
        times : array_like of float
            Time of each query, same length.

        Returns
        -------
        numpy.ndarray of float64
            NaN for an empty group or a negative time.
        """
        g = np.asarray(groups, dtype=np.int64)
        t = np.asarray(times, dtype=float)
        if g.shape != t.shape:
            msg = f"groups and times must have the same shape, got {g.shape} and {t.shape}"
            raise InputError(msg)
        if g.size and (g.min() < 0 or g.max() >= self.n_groups):
            msg = f"group codes must lie in [0, {self.n_groups})"
            raise InputError(msg)
        row = self._rows_at(g, t)
        out = np.full(t.shape, np.nan)
        ok = row >= 0
        out[ok] = self.cumulative_hazard[row[ok]]
        return out

    def cumulative_hazard_at_observations(self) -> FloatArray:
        """Return ``H(t_i)`` of each input observation's group at its own time, in input order.

        The same as ``cumulative_hazard_at(groups, durations)`` but a plain gather.
        Summed over the observations it equals the number of events.
        """
        return self.cumulative_hazard[self.observation_rows]

    def _time_at(
        self, curve: Callable[[IntArray], FloatArray], level: float, not_reached: float
    ) -> FloatArray:
        """First timeline time with ``curve(rows) <= level`` per group (lifelines' search).

        ``curve`` gives the curve at the rows asked for: only the last row of
        each group and the rows the binary search visits are evaluated.
        """
        out = np.full(self.n_groups, np.nan)
        has = ~self._empty()
        last = self.offsets[1:][has] - 1
        reached = np.zeros(self.n_groups, dtype=bool)
        reached[has] = curve(last) <= level
        lo = self.offsets[:-1][reached]
        hi = self.offsets[1:][reached]
        row = _bisect(lo, hi, lambda mid, _active: curve(mid) > level)
        out[reached] = self.time[row]
        out[has & ~reached] = not_reached
        return out

    def time_at_survival(self, level: float, *, not_reached: float = np.nan) -> FloatArray:
        """Return the first time at which ``S(t) <= level``, per group.

        Parameters
        ----------
        level : float
            Survival level in [0, 1]: 0.5 gives the median, 0.1 the time by
            which 90% of subjects have had the event (the p90).
        not_reached : float, default NaN
            Returned when the curve ends above ``level`` ("not estimable");
            lifelines returns ``inf``.

        Returns
        -------
        numpy.ndarray of float64, shape (n_groups,)
            NaN for an empty group.
        """
        if not 0.0 <= level <= 1.0:
            msg = f"level must lie in [0, 1], got {level!r}"
            raise OptionError(msg)
        return self._time_at(self.survival_of, level, not_reached)

    def median(self, *, not_reached: float = np.nan) -> FloatArray:
        """Return the Kaplan-Meier median per group (see :meth:`time_at_survival`)."""
        return self.time_at_survival(0.5, not_reached=not_reached)

    def confidence_bands(
        self, *, confidence: float = 0.95, rows: IntArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Return the pointwise log(-log) (exponential Greenwood) band of every row.

        Parameters
        ----------
        confidence : float, default 0.95
            Two-sided level.
        rows : numpy.ndarray of int, optional
            Only these rows of the table (the same values as the whole band's
            at these rows).  Default: every row.

        Returns
        -------
        lower, upper : numpy.ndarray of float64
            Per row of the table (or of ``rows``); 1 where ``S = 1``, 0 where ``S = 0``.
        """
        z = z_value(confidence)
        survival = self.survival if rows is None else self.survival_of(rows)
        greenwood = self.greenwood if rows is None else self.greenwood[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s = np.log(survival)
            spread = z * np.sqrt(greenwood) / log_s
            centre = np.log(-log_s)
            lower = np.exp(-np.exp(centre - spread))
            upper = np.exp(-np.exp(centre + spread))
        lower[np.isnan(lower)] = 1.0
        upper[np.isnan(upper)] = 1.0
        return lower, upper

    def median_ci(
        self,
        *,
        confidence: float = 0.95,
        not_reached: float = np.nan,
        bands: tuple[FloatArray, FloatArray] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Return the confidence interval of the median: where each band reaches 0.5.

        Parameters
        ----------
        confidence : float, default 0.95
            Two-sided level of the bands.
        not_reached : float, default NaN
            Returned for a limit whose band ends above 0.5 (an open-ended
            interval); lifelines returns ``inf``.
        bands : (lower, upper), optional
            The result of :meth:`confidence_bands`, if already computed
            (``confidence`` is then ignored).  Default: the bands are
            evaluated at the rows the search reads only.

        Returns
        -------
        low, high : numpy.ndarray of float64, shape (n_groups,)
            ``low`` is where the *lower* band reaches 0.5 (it falls first),
            ``high`` where the *upper* band does.
        """
        if bands is not None:
            return (
                self._time_at(bands[0].__getitem__, 0.5, not_reached),
                self._time_at(bands[1].__getitem__, 0.5, not_reached),
            )

        def band(side: int) -> Callable[[IntArray], FloatArray]:
            return lambda rows: self.confidence_bands(confidence=confidence, rows=rows)[side]

        return self._time_at(band(0), 0.5, not_reached), self._time_at(band(1), 0.5, not_reached)

    def to_frame(self, *, confidence: float | None = 0.95) -> pd.DataFrame:
        """Return the table as a tidy frame (one row per group and timeline time).

        Parameters
        ----------
        confidence : float or None, default 0.95
            Add ``lower`` and ``upper`` band columns at this level; None omits them.

        Returns
        -------
        pandas.DataFrame
            ``group``, ``time``, ``at_risk``, ``events``, ``censored``,
            ``survival``, ``greenwood``, ``cumulative_hazard`` [, ``lower``, ``upper``].
        """
        frame = pd.DataFrame(
            {
                "group": self.group,
                "time": self.time,
                "at_risk": self.at_risk,
                "events": self.events,
                "censored": self.censored,
                "survival": self.survival,
                "greenwood": self.greenwood,
                "cumulative_hazard": self.cumulative_hazard,
            }
        )
        if confidence is not None:
            frame["lower"], frame["upper"] = self.confidence_bands(confidence=confidence)
        return frame


def _check_inputs(
    durations: npt.ArrayLike,
    events: npt.ArrayLike | None,
    groups: npt.ArrayLike | None,
    n_groups: int | None,
) -> tuple[FloatArray, BoolArray, IntArray, int]:
    """Validate and convert the inputs of :func:`survival_curves`; raise once for all problems."""
    t = np.asarray(durations, dtype=float).ravel()
    e = np.ones(t.size, dtype=bool) if events is None else np.asarray(events).ravel()
    g = np.zeros(t.size, dtype=np.int64) if groups is None else np.asarray(groups).ravel()
    problems: list[str] = []
    if e.shape != t.shape:
        problems.append(f"events has {e.size} values for {t.size} durations")
    if g.shape != t.shape:
        problems.append(f"groups has {g.size} values for {t.size} durations")
    bad = ~np.isfinite(t)
    if bad.any():
        problems.append(f"{int(bad.sum())} durations are NaN or infinite")
    negative = t < 0
    if negative.any():
        problems.append(
            f"{int(negative.sum())} durations are negative (exclude and count them first)"
        )
    if g.size and g.shape == t.shape and not np.issubdtype(g.dtype, np.integer):
        problems.append(f"groups must be integer codes, got dtype {g.dtype}")
    if problems:
        msg = "invalid survival data: " + "; ".join(problems)
        raise InputError(msg)
    g = g.astype(np.int64, copy=False)
    size = (int(g.max()) + 1 if g.size else 1) if n_groups is None else int(n_groups)
    if g.size and (g.min() < 0 or g.max() >= size):
        msg = f"group codes must lie in [0, {size}); found {int(g.min())}..{int(g.max())}"
        raise InputError(msg)
    return t, e.astype(bool, copy=False), g, size


def _sort_entries(
    t: FloatArray,
    e: BoolArray,
    g: IntArray,
    births: IntArray,
    *,
    order: npt.ArrayLike | TimeOrder | None,
    index: type[np.signedinteger[Any]],
) -> tuple[PositionArray, FloatArray, BoolArray]:
    """Sort the entries -- a birth row (time 0) per non-empty group, then the observations.

    By group, then time: any sort by time (rows with equal group and time are
    pooled, so their order is irrelevant), then a stable sort by group -- a
    radix sort when the codes fit in 16 bits; several times faster than
    ``np.lexsort``.  A group's birth entry sorts first.  Returns each sorted
    entry's input position (``>= len(t)``: a birth), time and event flag.
    """
    in_order = order if isinstance(order, TimeOrder) else None
    if in_order is not None:
        order = in_order.positions
    if order is not None:
        order = np.asarray(order, dtype=index).ravel()
        given = [order] if in_order is None else [order, in_order.durations, in_order.events]
        wrong = [values.size for values in given if values.size != t.size]
        if wrong:
            msg = f"order has {wrong[0]} values for {t.size} durations"
            raise InputError(msg)
    by_time = np.argsort(t).astype(index) if order is None else order
    entry = np.concatenate([np.arange(t.size, t.size + births.size, dtype=index), by_time])
    by_group = None
    if births.size > 1:
        narrow = np.uint16 if births[-1] <= np.iinfo(np.uint16).max else np.int64
        keys = np.concatenate([births.astype(narrow), g.astype(narrow)[by_time]])
        by_group = np.argsort(keys, kind="stable")
        entry = entry[by_group]
    if in_order is None:
        sorted_t = np.concatenate([t, np.zeros(births.size)])[entry]
        is_event = np.concatenate([e, np.zeros(births.size, dtype=bool)])[entry]
        return entry, sorted_t, is_event
    # the entries' times and events in time order are given: reorder them by group, if any
    sorted_t = np.concatenate([np.zeros(births.size), in_order.durations])
    is_event = np.concatenate([np.zeros(births.size, dtype=bool), in_order.events])
    if by_group is None:
        return entry, sorted_t, is_event
    return entry, sorted_t[by_group], is_event[by_group]


def survival_curves(
    durations: npt.ArrayLike,
    events: npt.ArrayLike | None = None,
    *,
    groups: npt.ArrayLike | None = None,
    n_groups: int | None = None,
    order: npt.ArrayLike | TimeOrder | None = None,
) -> SurvivalCurves:
    """Estimate Kaplan-Meier and Nelson-Aalen curves for every group at once.

    Parameters
    ----------
    durations : array_like of float
        Time from start to event or censoring; finite and ``>= 0``.
    events : array_like of bool, optional
        True for an observed event (a closure), False for right-censored (still
        open).  Default: every observation is an event.
    groups : array_like of int, optional
        Group code ``0 <= g < n_groups`` per observation (e.g. from
        :func:`pandas.factorize`).  Default: one group.
    n_groups : int, optional
        Number of groups, so that trailing groups without observations still
        get a (NaN) result.  Default: ``max(groups) + 1``.
    order : array_like of int or TimeOrder, optional
        Indices that sort ``durations`` ascending (``numpy.argsort(durations)``),
        when the caller already has them -- e.g. to fit several groupings of
        the same durations.  Saves one sort; not checked beyond its length.
        A :class:`TimeOrder` also gives the durations and events in that
        order, which saves gathering them.

    Returns
    -------
    SurvivalCurves

    Raises
    ------
    InputError
        Listing every problem: mismatched lengths, NaN/infinite or negative
        durations, non-integer or out-of-range group codes.

    Examples
    --------
    >>> km = survival_curves([2.0, 4.0, 4.0, 6.0], [True, True, False, False])
    >>> km.time.tolist(), km.survival.round(4).tolist()
    ([0.0, 2.0, 4.0, 6.0], [1.0, 0.75, 0.5, 0.5])
    >>> km.median().tolist(), km.time_at_survival(0.1).tolist()
    ([4.0], [nan])
    """
    t, e, g, size = _check_inputs(durations, events, groups, n_groups)
    # positions in int32 when they fit: the sort and the rows per observation are kept
    index = np.int32 if t.size + size < np.iinfo(np.int32).max else np.int64
    sizes = np.bincount(g, minlength=size)
    births = np.flatnonzero(sizes)  # a row at time 0 for every non-empty group
    order, sorted_t, is_event = _sort_entries(t, e, g, births, order=order, index=index)
    # sorted by group: each group's entries (its observations and its birth row) in a run
    per_group = sizes + (sizes > 0)
    group_end = np.cumsum(per_group)
    # a row opens at each change of time within a group, and at each group's birth entry
    new = np.empty(order.size, dtype=bool)
    np.not_equal(sorted_t[1:], sorted_t[:-1], out=new[1:])
    new[group_end[births] - per_group[births]] = True
    starts = np.flatnonzero(new)
    bounds = np.append(starts, order.size)
    # Rows per group: the row openings among each group's entries.
    opened = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(new, out=opened[1:])
    offsets = np.zeros(size + 1, dtype=np.int64)
    offsets[1:] = opened[group_end]
    rows_per_group = np.diff(offsets)
    row_group: PositionArray = np.repeat(np.arange(size, dtype=index), rows_per_group)
    row_time = sorted_t[new]
    # Entries per row (a run of equal group and time), less the birth entry opening
    # each group's first row; at risk: the group's entries from the row on (less
    # the birth entry on the first row).  Events: a running count read at the rows' bounds.
    first_rows = offsets[:-1][births]
    removed = np.diff(bounds)
    removed[first_rows] -= 1
    running = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(is_event, out=running[1:])
    deaths = np.diff(running[bounds])
    del running
    at_risk = np.repeat(group_end, rows_per_group) - starts
    at_risk[first_rows] -= 1
    # the counts kept with the curve in the positions' integers (int32 when they fit)
    return SurvivalCurves(
        n_groups=size,
        offsets=offsets,
        group=row_group,
        time=row_time,
        at_risk=at_risk.astype(index),
        events=deaths.astype(index),
        censored=(removed - deaths).astype(index),
        sort=order,
        opens_row=new,
    )
