"""What a run returns: :class:`PipelineResult`, and the stages it stops after.

:func:`geo311.pipeline.run` builds it (and re-exports these names);
:mod:`geo311.publish` writes its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from geo311.indicators.tables import LayerTables
from geo311.join.label_qa import LabelCheck
from geo311.join.layers import Layer
from geo311.join.manifest import CityManifest
from geo311.ledger import Ledger

__all__ = ["STAGES", "PipelineResult", "Stage"]

#: A pipeline stage; :func:`run` stops after the one named by ``stop_after``.
Stage = Literal["ingest", "join", "indicators"]
#: The stages in order.
STAGES: tuple[Stage, ...] = ("ingest", "join", "indicators")


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`geo311.run` returns: every stage's output, held in memory.

    Attributes
    ----------
    requests : pandas.DataFrame
        Canonical requests (a GeoDataFrame in EPSG:4326); after the join with
        ``<layer>_id``, ``_name``, ``_vintage`` and ``_join`` columns.
    ledger : Ledger
        Row ledger of every stage run so far.
    stage : {"ingest", "join", "indicators"}
        The last stage run.
    city : CityManifest or None
        The city profile (None for an ingest without a city).
    layers : tuple of str
        Layers joined (after the join) and tabulated (after the indicators).
    district_layer : str or None
        The layer with one page per area, also the group of the Theil decomposition.
    tables : dict of str to LayerTables
        Indicator tables per layer (after the indicators stage).
    checks : list of LabelCheck
        Agreement with the source's own labels (a join with ``qa=True``).
    boundaries : dict of str to list of Layer
        The boundary layers used, by key (after the join).
    metadata : dict
        City, stage, layers, district layer, as-of and period of the run.
    """

    requests: pd.DataFrame
    ledger: Ledger
    stage: Stage
    city: CityManifest | None = None
    layers: tuple[str, ...] = ()
    district_layer: str | None = None
    tables: dict[str, LayerTables] = field(default_factory=dict)
    checks: list[LabelCheck] = field(default_factory=list)
    boundaries: dict[str, list[Layer]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def equity(self) -> pd.DataFrame:
        """The equity measures of every tabulated layer, with a ``layer`` column."""
        parts = [t.equity.assign(layer=k) for k, t in self.tables.items() if len(t.equity)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"layer": []})
