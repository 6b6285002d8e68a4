"""Kaplan-Meier curves of many groups fitted a batch of groups at a time, in bounded memory.

A fit by :func:`~geo311.indicators.survival.survival_curves` holds about ten
working arrays of one row per observation.  A group's curve depends on its
own observations only, so fitting runs of consecutive groups one after the
other gives the same values bit for bit while the working arrays are those
of one batch: :func:`curve_batches` yields each batch's curves,
:func:`hazard_at_observations` gathers the observations' cumulative hazards
from them.  This is what keeps the time-to-close tables of a long history
from needing memory per request for their fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from geo311.indicators.survival import (
    BoolArray,
    FloatArray,
    IntArray,
    PositionArray,
    SurvivalCurves,
    TimeOrder,
    survival_curves,
)

__all__ = ["BATCH_OBSERVATIONS", "CurveBatch", "curve_batches", "hazard_at_observations"]


#: Observations fitted at once by :func:`curve_batches`: a fit's working arrays take
#: about 100 bytes per observation (memray: 302 MiB in a 5M-request run's per-area
#: fit), so a batch ~100 MiB.
BATCH_OBSERVATIONS = 1 << 20


class CurveBatch(NamedTuple):
    """The curves of consecutive groups, fitted together (see :func:`curve_batches`)."""

    #: the first group of the batch: its curves are groups ``start`` on, coded from 0
    start: int
    #: the input positions of the batch's observations, ascending (None: every observation)
    observations: PositionArray | None
    curves: SurvivalCurves


def _batch_stops(sizes: IntArray, most: int) -> list[int]:
    """Cut the groups into runs of consecutive groups of at most ``most`` observations.

    A group larger than ``most`` makes a run of its own.
    """
    stops: list[int] = []
    held = 0
    for g, size in enumerate(sizes.tolist()):
        if held and held + size > most:
            stops.append(g)
            held = 0
        held += size
    stops.append(sizes.size)
    return stops


def curve_batches(
    durations: FloatArray,
    events: BoolArray,
    *,
    groups: npt.NDArray[np.signedinteger[Any]],
    n_groups: int,
    order: TimeOrder,
    most: int | None = None,
) -> Iterator[CurveBatch]:
    """Fit the groups' curves a batch of consecutive groups at a time, in group order.

    A group's curve depends on its own observations only, so each batch's
    curves are bit for bit those of one :func:`survival_curves` call over
    all the observations, while the working arrays are those of at most
    ``most`` observations (or of the largest group): the memory of a fit
    stops growing with the number of requests.  With ``most`` observations
    or fewer, one batch, fitted exactly as :func:`survival_curves` does.

    Parameters
    ----------
    durations, events : numpy.ndarray
        As :func:`survival_curves` takes them (valid: checked by the fits).
    groups : numpy.ndarray of int
        Group code ``0 <= g < n_groups`` of every observation.
    n_groups : int
        Number of groups.
    order : TimeOrder
        The observations sorted by duration; each batch keeps its own part.
    most : int, optional
        Observations per batch; default :data:`BATCH_OBSERVATIONS` (read at the call).

    Yields
    ------
    CurveBatch
        The batches in group order: together they cover groups ``0..n_groups-1``.
    """
    most = BATCH_OBSERVATIONS if most is None else most
    if durations.size <= most:
        curves = survival_curves(durations, events, groups=groups, n_groups=n_groups, order=order)
        yield CurveBatch(0, None, curves)
        return
    sizes = np.bincount(groups, minlength=n_groups)
    start = 0
    for stop in _batch_stops(sizes, most):
        inside = (groups >= start) & (groups < stop)
        observations = np.flatnonzero(inside).astype(order.positions.dtype)
        in_time = inside[order.positions]
        # the batch's time order: the run's, kept to its observations, renumbered
        renumber = np.cumsum(inside, dtype=order.positions.dtype)
        del inside
        renumber -= 1
        mine = TimeOrder(
            renumber[order.positions[in_time]], order.durations[in_time], order.events[in_time]
        )
        del in_time, renumber
        curves = survival_curves(
            durations[observations],
            events[observations],
            groups=groups[observations] - start,
            n_groups=stop - start,
            order=mine,
        )
        yield CurveBatch(start, observations, curves)
        start = stop


def hazard_at_observations(
    durations: FloatArray,
    events: BoolArray,
    *,
    groups: npt.NDArray[np.signedinteger[Any]],
    n_groups: int,
    order: TimeOrder,
) -> FloatArray:
    """Return each observation's Nelson-Aalen ``H(t_i)`` under its group's curve, in input order.

    :meth:`SurvivalCurves.cumulative_hazard_at_observations` of the groups'
    curves, fitted a batch of groups at a time (:func:`curve_batches`): the
    same values, in the memory of a batch.
    """
    out = np.empty(durations.size)  # no memory until written: not with one batch
    for batch in curve_batches(durations, events, groups=groups, n_groups=n_groups, order=order):
        hazard = batch.curves.cumulative_hazard_at_observations()
        if batch.observations is None:  # one batch: every observation
            return hazard
        out[batch.observations] = hazard
    return out
