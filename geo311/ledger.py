"""The row ledger: how many rows each pipeline stage took in, gave out, and why.

Every geo311 stage that reads, drops or flags rows records one
:class:`StageLedger`; a :class:`Ledger` is the ordered list of them for one
run.  The invariant ``rows_in == rows_out + sum(dropped.values())`` holds for
every stage and is checked when a stage is recorded, so a row can never go
missing without a reason.  Flags do not remove rows; a row may carry several
flags, so flag counts are per reason and need not add up to anything.

Examples
--------
>>> ledger = Ledger()
>>> stage = ledger.record("dedupe", rows_in=10, rows_out=9,
...                       dropped={"duplicate_service_request_id": 1})
>>> ledger.rows_in, ledger.rows_out
(10, 9)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

__all__ = ["Ledger", "Result", "StageLedger", "ledger_path"]

MAX_EXAMPLES = 5


def ledger_path(data_path: Path) -> Path:
    """Return where the ledger of a GeoParquet output lives: ``<name>.ledger.json`` beside it.

    >>> ledger_path(Path("out/requests.parquet")).as_posix()
    'out/requests.ledger.json'
    """
    return data_path.with_name(data_path.name.removesuffix(".parquet") + ".ledger.json")


@dataclass
class StageLedger:
    """Row accounting for one stage.

    Parameters
    ----------
    stage : str
        Stage name, e.g. ``"read"``, ``"normalize"``, ``"clean"``.
    rows_in, rows_out : int
        Rows that entered and left the stage.
    dropped : dict of str to int
        Rows removed, by reason.
    flagged : dict of str to int
        Rows kept but flagged, by reason.
    examples : dict of str to list of str
        Up to five example values (or row references) per reason.
    notes : list of str
        Free-text remarks (e.g. the profile chosen, a swap rule applied).
    """

    stage: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dropped = {k: int(v) for k, v in self.dropped.items() if v}
        self.flagged = {k: int(v) for k, v in self.flagged.items() if v}
        self.examples = {k: [str(x) for x in v][:MAX_EXAMPLES] for k, v in self.examples.items()}
        negative = {
            k: v
            for k, v in {
                "rows_in": self.rows_in,
                "rows_out": self.rows_out,
                **self.dropped,
            }.items()
            if v < 0
        }
        negative.update({k: v for k, v in self.flagged.items() if v < 0})
        if negative:
            msg = (
                f"ledger of stage {self.stage!r} has negative counts {negative}. "
                "This is a geo311 bug; please report it."
            )
            raise RuntimeError(msg)
        lost = self.rows_in - self.rows_out - sum(self.dropped.values())
        if lost:
            msg = (
                f"ledger invariant broken in stage {self.stage!r}: {self.rows_in} in, "
                f"{self.rows_out} out, {sum(self.dropped.values())} dropped by reason "
                f"({lost:+d} unaccounted). This is a geo311 bug; please report it."
            )
            raise RuntimeError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "stage": self.stage,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
            "flagged": dict(self.flagged),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "notes": list(self.notes),
        }

    def merged(self, other: StageLedger) -> StageLedger:
        """Return the sum of two ledgers of the same stage (e.g. two chunks).

        Parameters
        ----------
        other : StageLedger
            A ledger for the same stage name.

        Returns
        -------
        StageLedger
            Counts added; examples and notes concatenated (deduplicated).
        """
        if other.stage != self.stage:
            msg = f"cannot merge ledgers of stages {self.stage!r} and {other.stage!r}"
            raise ValueError(msg)
        examples = {k: list(v) for k, v in self.examples.items()}
        for key, values in other.examples.items():
            bucket = examples.setdefault(key, [])
            bucket.extend(v for v in values if v not in bucket)
        return StageLedger(
            stage=self.stage,
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            dropped=_add_counts(self.dropped, other.dropped),
            flagged=_add_counts(self.flagged, other.flagged),
            examples=examples,
            notes=list(dict.fromkeys([*self.notes, *other.notes])),
        )


def _add_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


@dataclass
class Ledger:
    """The ordered stage ledgers of one run, plus the inputs it read.

    Parameters
    ----------
    stages : list of StageLedger
        In pipeline order.
    inputs : list of dict
        One entry per input file: ``{"path": ..., "rows": ..., "profile": ...}``.
    """

    stages: list[StageLedger] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        stage: str,
        *,
        rows_in: int,
        rows_out: int,
        dropped: Mapping[str, int] | None = None,
        flagged: Mapping[str, int] | None = None,
        examples: Mapping[str, Iterable[Any]] | None = None,
        notes: Iterable[str] = (),
    ) -> StageLedger:
        """Append one stage (merging into an existing stage of the same name).

        Returns
        -------
        StageLedger
            The ledger recorded (after merging, if the stage existed).
        """
        new = StageLedger(
            stage=stage,
            rows_in=rows_in,
            rows_out=rows_out,
            dropped=dict(dropped or {}),
            flagged=dict(flagged or {}),
            examples={k: [str(x) for x in v] for k, v in (examples or {}).items()},
            notes=list(notes),
        )
        for i, existing in enumerate(self.stages):
            if existing.stage == stage:
                self.stages[i] = existing.merged(new)
                return self.stages[i]
        self.stages.append(new)
        return new

    def extend(self, other: Ledger) -> Ledger:
        """Return a ledger with ``other``'s inputs and stages merged in (chunks, files)."""
        out = Ledger(stages=list(self.stages), inputs=[*self.inputs, *other.inputs])
        for stage in other.stages:
            out.record(
                stage.stage,
                rows_in=stage.rows_in,
                rows_out=stage.rows_out,
                dropped=stage.dropped,
                flagged=stage.flagged,
                examples=stage.examples,
                notes=stage.notes,
            )
        return out

    def stage(self, name: str) -> StageLedger:
        """Return the ledger of stage ``name`` (KeyError listing stages if absent)."""
        for stage in self.stages:
            if stage.stage == name:
                return stage
        msg = f"no stage {name!r} in this ledger; stages: {[s.stage for s in self.stages]}"
        raise KeyError(msg)

    @property
    def rows_in(self) -> int:
        """Rows entering the first stage."""
        return self.stages[0].rows_in if self.stages else 0

    @property
    def rows_out(self) -> int:
        """Rows leaving the last stage."""
        return self.stages[-1].rows_out if self.stages else 0

    @property
    def dropped(self) -> dict[str, int]:
        """Rows dropped over all stages, by reason."""
        out: dict[str, int] = {}
        for stage in self.stages:
            out = _add_counts(out, stage.dropped)
        return out

    @property
    def flagged(self) -> dict[str, int]:
        """Row flags raised over all stages, by reason."""
        out: dict[str, int] = {}
        for stage in self.stages:
            out = _add_counts(out, stage.flagged)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": self.dropped,
            "flagged": self.flagged,
            "inputs": [dict(i) for i in self.inputs],
            "stages": [s.to_dict() for s in self.stages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ledger:
        """Rebuild a ledger written by :meth:`to_dict` (invariants are re-checked)."""
        return cls(
            stages=[StageLedger(**s) for s in data.get("stages", [])],
            inputs=[dict(i) for i in data.get("inputs", [])],
        )

    def write_json(self, path: str | Path) -> Path:
        """Write the ledger as indented JSON and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read_json(cls, path: str | Path) -> Ledger:
        """Read a ledger written by :meth:`write_json`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def summary(self) -> str:
        """Return a short human-readable account, one line per stage and reason."""
        lines = [f"rows in: {self.rows_in:,}   rows out: {self.rows_out:,}"]
        for item in self.inputs:
            rows = item.get("rows")
            detail = f"{rows:,} rows" if isinstance(rows, int) else ""
            profile = item.get("profile")
            lines.append(
                f"  input {item.get('path')}: {detail}" + (f" ({profile})" if profile else "")
            )
        for stage in self.stages:
            lines.append(f"{stage.stage}: {stage.rows_in:,} in -> {stage.rows_out:,} out")
            lines.extend(f"  dropped {n:,}: {reason}" for reason, n in stage.dropped.items())
            lines.extend(f"  flagged {n:,}: {reason}" for reason, n in stage.flagged.items())
        return "\n".join(lines)


class Result(NamedTuple):
    """A frame and the ledger of the stage(s) that produced it.

    Unpack it (``frame, ledger = read_requests(...)``) or use the attributes.
    """

    frame: pd.DataFrame
    ledger: Ledger
