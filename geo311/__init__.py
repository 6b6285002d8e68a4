"""geo311: geospatial equity analysis of city 311 service requests.

The pipeline reads left to right: :func:`read_requests` (ingest any city's
export into one schema, with a row ledger) -> clean -> geocode -> join ->
population -> indicators / equity -> maps / report.  :func:`run` is the one
orchestration of those stages (``geo311 run``, the stage commands, the demo
and the examples all call it); it returns a :class:`PipelineResult` held in
memory, which :func:`write_requests`, :func:`write_indicators` and
:func:`write_site` write out.
"""

from importlib.metadata import PackageNotFoundError, version

from geo311._errors import (
    ConfigError,
    CRSError,
    DataError,
    FetchError,
    Geo311Error,
    GeocodeError,
    InputError,
    InputFileError,
    LayerError,
    NetworkError,
    OptionError,
    OutputExistsError,
    ProfileError,
    SchemaError,
    TimestampError,
)
from geo311.clean.placeholders import find_placeholders
from geo311.clean.quality import clean_requests, flag_coordinates
from geo311.indicators import (
    DATA_DICTIONARY,
    area_indicators,
    channel_mix,
    city_indicators,
    concentration_index,
    data_dictionary,
    disparity_scores,
    equity_summary,
    gini,
    quintile_table,
    service_mix,
    survival_curves,
    theil,
    time_patterns,
)
from geo311.io.infer import infer_profile
from geo311.io.normalize import parse_location
from geo311.io.profiles import Profile, detect_profile, get_profile, list_profiles, load_profile
from geo311.io.proposal import ProfileProposal
from geo311.io.readers import read_requests, requests_from_frame
from geo311.io.schema import CANONICAL_COLUMNS, COORD_QUALITY, column_names, validate_requests
from geo311.io.sniff import FORMATS, sniff_format
from geo311.io.timestamps import parse_timestamps
from geo311.join.assign import JOIN_STATUS, CityJoin, assign_areas, join_city
from geo311.join.check import CityCheck, check_city
from geo311.join.city_init import CityProposal, init_city
from geo311.join.label_qa import LabelCheck, compare_labels, normalize_label
from geo311.join.layers import Layer, LayerResult, layer_from_file, load_layers, read_layer
from geo311.join.manifest import ManifestError, list_cities, load_manifest
from geo311.ledger import Ledger, Result, StageLedger
from geo311.pipeline import PipelineResult, load_requests, run
from geo311.population.interpolation import interpolate, land_use_weights
from geo311.population.layer import layer_population
from geo311.population.tracts import Denominators, read_tract_table
from geo311.publish import RunResult, run_city, write_indicators, write_requests, write_site
from geo311.site.build import SiteResult, build_site
from geo311.site.maps import choropleth, classify, map_parts, save_map, static_map
from geo311.site.membership import district_membership
from geo311.site.simplify import DisplayGeometry, simplify_for_display

try:
    __version__ = version("geo311")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "CANONICAL_COLUMNS",
    "COORD_QUALITY",
    "DATA_DICTIONARY",
    "FORMATS",
    "JOIN_STATUS",
    "CRSError",
    "CityCheck",
    "CityJoin",
    "CityProposal",
    "ConfigError",
    "DataError",
    "Denominators",
    "DisplayGeometry",
    "FetchError",
    "Geo311Error",
    "GeocodeError",
    "InputError",
    "InputFileError",
    "LabelCheck",
    "Layer",
    "LayerError",
    "LayerResult",
    "Ledger",
    "ManifestError",
    "NetworkError",
    "OptionError",
    "OutputExistsError",
    "PipelineResult",
    "Profile",
    "ProfileError",
    "ProfileProposal",
    "Result",
    "RunResult",
    "SchemaError",
    "SiteResult",
    "StageLedger",
    "TimestampError",
    "__version__",
    "area_indicators",
    "assign_areas",
    "build_site",
    "channel_mix",
    "check_city",
    "choropleth",
    "city_indicators",
    "classify",
    "clean_requests",
    "column_names",
    "compare_labels",
    "concentration_index",
    "data_dictionary",
    "detect_profile",
    "disparity_scores",
    "district_membership",
    "equity_summary",
    "find_placeholders",
    "flag_coordinates",
    "get_profile",
    "gini",
    "infer_profile",
    "init_city",
    "interpolate",
    "join_city",
    "land_use_weights",
    "layer_from_file",
    "layer_population",
    "list_cities",
    "list_profiles",
    "load_layers",
    "load_manifest",
    "load_profile",
    "load_requests",
    "map_parts",
    "normalize_label",
    "parse_location",
    "parse_timestamps",
    "quintile_table",
    "read_layer",
    "read_requests",
    "read_tract_table",
    "requests_from_frame",
    "run",
    "run_city",
    "save_map",
    "service_mix",
    "simplify_for_display",
    "sniff_format",
    "static_map",
    "survival_curves",
    "theil",
    "time_patterns",
    "validate_requests",
    "write_indicators",
    "write_requests",
    "write_site",
]
