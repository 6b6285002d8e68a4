"""The records of a boundary manifest's layers: vintages, labels, outline, ancillary data.

They are built and checked by :func:`geo311.join.manifest.parse_manifest`
(which re-exports them); a :class:`LayerSpec` is one ``[layers.<key>]`` table,
a :class:`VintageSpec` one of its ``[[vintages]]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from geo311._errors import SchemaError
from geo311.join.display import display_name
from geo311.join.label_transform import LabelTransform

__all__ = [
    "DEFAULT_DISPLAY",
    "AncillarySpec",
    "LabelSpec",
    "LayerSpec",
    "ManifestError",
    "OutlineSpec",
    "VintageSpec",
]

#: The ``display`` of a layer that declares none.
DEFAULT_DISPLAY = "{name}"


class ManifestError(SchemaError):
    """A boundary manifest (or a layer declaration) is unknown or invalid."""


@dataclass(frozen=True)
class VintageSpec:
    """One vintage of a layer, as declared in a manifest.

    Attributes
    ----------
    vintage : str
        Its name, e.g. ``"2010"`` or ``"1959_2022"``.
    valid_from, valid_to : datetime.date or None
        Half-open validity ``valid_from <= day < valid_to``; None is open-ended.
    source : str
        The official source: a service URL or a TIGER/Line file name.
    publisher : str
        Who publishes it.
    file : str or None
        Local file name relative to the city's data folder; None when no
        local copy exists (the join then reports the vintage as missing).
    crs : str
        CRS of the local file (or of the source when there is no file).
    note : str
        Free text: how the dates were chosen, known defects.
    population_field : str or None
        A field of the file holding a block-based population per area (e.g.
        ``"pop_2020"``); :func:`geo311.population.layer.layer_population`
        uses it instead of interpolating tracts.
    population_source, population_year : str
        Where that population comes from and its census year.
    """

    vintage: str
    valid_from: date | None
    valid_to: date | None
    source: str
    publisher: str
    file: str | None
    crs: str
    note: str = ""
    population_field: str | None = None
    population_source: str = ""
    population_year: str = ""

    @property
    def has_file(self) -> bool:
        """Whether a local file is declared for this vintage."""
        return self.file is not None

    def valid_on(self, day: date) -> bool:
        """Return True when ``day`` lies in ``[valid_from, valid_to)``."""
        after = self.valid_from is None or day >= self.valid_from
        before = self.valid_to is None or day < self.valid_to
        return after and before


@dataclass(frozen=True)
class LabelSpec:
    """The source 311 column that carries the city's own label for a layer.

    Attributes
    ----------
    column : str
        Source column name (e.g. ``"Neighborhood"``); canonical frames keep it
        as ``raw_<column>``.
    match : {"name", "id"}
        Whether the column holds area names or area ids.
    transform : LabelTransform or None
        How to rewrite the column's values before comparing them ("Ward 3"
        -> "3"); see :mod:`geo311.join.label_transform`.
    """

    column: str
    match: str
    transform: LabelTransform | None = None


@dataclass(frozen=True)
class LayerSpec:
    """A layer as declared in a manifest: fields, label, and its vintages.

    Attributes
    ----------
    key : str
        Layer key, e.g. ``"neighborhoods"``; join columns are ``<key>_id`` etc.
    title : str
        Human-readable name.
    id_field, name_field : str
        Source fields holding the area id and name.
    alias_fields : tuple of str
        Fields holding former names; those absent from a vintage's file are skipped.
    label : LabelSpec or None
        The 311 column with the city's own label for this layer, if any.
    vintages : tuple of VintageSpec
        Ordered by ``valid_from`` (open start first).
    display : str
        How an area is named on a page: a format with only the placeholders
        ``{id}`` and ``{name}`` (e.g. ``"Council District {id}"``); default
        ``"{name}"``.  See :meth:`display_name`.
    """

    key: str
    title: str
    id_field: str
    name_field: str
    alias_fields: tuple[str, ...]
    label: LabelSpec | None
    vintages: tuple[VintageSpec, ...]
    display: str = DEFAULT_DISPLAY

    def display_name(self, area_id: Any, area_name: Any = None) -> str:
        """Return an area's name for a page, from :attr:`display`.

        Parameters
        ----------
        area_id : object
            The area's id (``area_id``).
        area_name : object, optional
            The area's name (``area_name``); when missing, the id stands in
            for it.

        Returns
        -------
        str
            The values are substituted as plain text: braces or anything
            else inside an id or name are never interpreted.

        Examples
        --------
        >>> from geo311.join.manifest import load_manifest
        >>> spec = load_manifest("los_angeles").layer("council_districts")
        >>> spec.display_name("5", "5")
        'Council District 5'
        """
        return display_name(self.display, area_id, area_name)

    def vintage(self, name: str) -> VintageSpec:
        """Return the vintage called ``name`` (ManifestError listing the vintages if absent)."""
        for spec in self.vintages:
            if spec.vintage == name:
                return spec
        msg = (
            f"layer {self.key!r} has no vintage {name!r}; "
            f"vintages: {', '.join(v.vintage for v in self.vintages)}"
        )
        raise ManifestError(msg)

    @property
    def missing_files(self) -> tuple[VintageSpec, ...]:
        """Vintages declared without a local file."""
        return tuple(v for v in self.vintages if not v.has_file)


@dataclass(frozen=True)
class OutlineSpec:
    """The city's land outline (``city_outline``): clips tracts and gives land areas.

    Attributes
    ----------
    file : str
        File relative to the city folder (found like a layer file).
    crs : str
        CRS of the file, used when it declares none.
    source, note : str
        Where it comes from; anything a reviewer should know.
    """

    file: str
    crs: str
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class AncillarySpec:
    """The dasymetric ancillary layer (``ancillary``) for interpolating tract population.

    Attributes
    ----------
    layer, vintage : str
        A layer vintage of the same manifest.
    field : str
        A count per area (e.g. ``"housing_units_2020"``: the weight of a
        piece of land is the area's count per m²), or, with ``classes``, a
        land-use class column (e.g. ``"type"``).
    classes : mapping of str to float, optional
        Land-use class -> relative density (e.g. ``{"Residential": 1.0}``);
        classes not listed weigh 0.
    note : str
        Why this layer, and known limits.
    """

    layer: str
    vintage: str
    field: str
    classes: Mapping[str, float] | None = None
    note: str = ""
