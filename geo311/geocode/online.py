"""Online geocoders: the US Census Bureau batch geocoder and ArcGIS locators.

Both follow the :class:`geo311.geocode.protocol.Geocoder` protocol, so they plug into
:func:`geo311.geocode.core.geocode` (which adds the SQLite answer cache, batching
and the ledger), and both talk through :class:`geo311.connectors._client.HttpClient`
(timeouts, bounded retries with backoff, secret redaction).

* :class:`CensusBatchGeocoder` uploads up to 10,000 addresses per request
  as a CSV file to ``/locations/addressbatch`` and parses the CSV answer.
* :class:`ArcGISLocator` asks a geocode service's ``findAddressCandidates``
  once per address (e.g. a city's composite locator) and keeps the best
  candidate above a score threshold.

Neither raises for an address it cannot place (that is ``match="none"``);
they raise :class:`~geo311._errors.GeocodeError` or
:class:`~geo311._errors.FetchError` when a whole request failed, so that
nothing is cached for it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from typing import Any, Final, Self

import numpy as np
import pandas as pd

from geo311._errors import GeocodeError, OptionError
from geo311.connectors._client import HttpClient, decode_json, redact_url
from geo311.geocode.protocol import GEOCODE_COLUMNS

__all__ = [
    "CENSUS_NON_EXACT_SCORE",
    "ArcGISLocator",
    "CensusBatchGeocoder",
]

#: Score given to a Census ``Match``/``Non_Exact`` answer (the Census geocoder
#: reports no score; ``Exact`` answers get 100).  A non-exact match is one the
#: geocoder made after correcting the street name, type, directional or ZIP;
#: in practice these are right far more often than not, hence "fuzzy".
CENSUS_NON_EXACT_SCORE: Final = 80.0

#: ArcGIS ``Addr_type`` values too coarse to stand for a street address
#: (a ZIP, city or street centroid): such candidates are never accepted.
COARSE_ADDR_TYPES: Final = frozenset(
    {
        "Postal",
        "PostalExt",
        "PostalLoc",
        "Locality",
        "Region",
        "Subregion",
        "Country",
        "Zone",
        "StreetName",
    }
)

_METRES_PER_DEGREE: Final = 111_320.0


def _empty_answer(index: pd.Index, source: str) -> pd.DataFrame:
    """Return an all-``none`` answer frame for ``index`` (columns of the protocol)."""
    n = len(index)
    return pd.DataFrame(
        {
            "lon": np.full(n, np.nan),
            "lat": np.full(n, np.nan),
            "score": np.full(n, np.nan),
            "match": pd.array(["none"] * n, dtype="string"),
            "matched_address": pd.array([None] * n, dtype="string"),
            "source": pd.array([source] * n, dtype="string"),
            "reason": pd.array([None] * n, dtype="string"),
        },
        index=index,
    )


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return an equirectangular distance in metres (accurate at city scale)."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)) * _METRES_PER_DEGREE
    dy = (lat2 - lat1) * _METRES_PER_DEGREE
    return math.hypot(dx, dy)


def _text(value: object) -> str:
    """Return ``value`` as a stripped string ('' for None/NA)."""
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


# --------------------------------------------------------------------------
# US Census Bureau batch geocoder
# --------------------------------------------------------------------------


class _Online:
    """What both online geocoders share: an HTTP client, opened on first use and closable.

    A client passed in belongs to the caller and is never closed here; use
    the geocoder as a context manager (or call :meth:`close`) to release the
    one it opened itself.
    """

    _client: HttpClient | None = None
    _owns_client: bool = False

    @property
    def client(self) -> HttpClient:
        """The HTTP client (created on first use)."""
        if self._client is None:
            self._client = HttpClient()
            self._owns_client = True
        return self._client

    def close(self) -> None:
        """Close the HTTP client this geocoder opened (not one it was given)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None
            self._owns_client = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CensusBatchGeocoder(_Online):
    """The US Census Bureau's batch address geocoder (free, no key, US only).

    Each :meth:`geocode_batch` call uploads one CSV file (``Unique ID,
    Street address, City, State, ZIP``, no header) as the multipart field
    ``addressFile`` to ``<base_url>/locations/addressbatch`` with the chosen
    ``benchmark``, and reads the CSV answer (no header; id, input address,
    ``Match``/``No_Match``/``Tie``, ``Exact``/``Non_Exact``, matched address,
    ``"lon,lat"``, TIGER line id, side).

    Answers map to the protocol as follows:

    ============================  =============  =======================
    Census answer                 ``match``      ``score``
    ============================  =============  =======================
    ``Match`` + ``Exact``         ``exact``      100
    ``Match`` + ``Non_Exact``     ``fuzzy``      :data:`CENSUS_NON_EXACT_SCORE` (80)
    ``Tie``                       ``ambiguous``  NaN
    ``No_Match``                  ``none``       NaN
    row absent from the answer    ``none``       NaN
    ============================  =============  =======================

    Intersections (``A & B``) are answered ``none`` without being sent: the
    batch geocoder places street addresses only.

    Parameters
    ----------
    benchmark : str, default "Public_AR_Current"
        The Census address-range benchmark (name or numeric id).
    city, state : str, optional
        Written into every row's City and State columns (e.g. ``"Baltimore"``,
        ``"MD"``); 311 addresses rarely carry them, and the ZIP alone is often
        enough but a city and state help where the ZIP is missing.
    base_url : str, default "https://geocoding.geo.census.gov/geocoder"
        Service root; override for a mirror or a test server.
    client : HttpClient, optional
        HTTP client to use; by default one with the project's timeouts and
        retries (its HTTP cache plays no part: uploads are never cached, the
        :class:`~geo311.geocode.cache.GeocodeCache` is the cache).
    name : str, default "census"
        Written to ``geocode_source``.

    Examples
    --------
    >>> g = CensusBatchGeocoder(city="Baltimore", state="MD")
    >>> g.max_batch_size, g.fingerprint
    (10000, 'benchmark=Public_AR_Current;city=Baltimore;state=MD;url=https://geocoding.geo.census.gov/geocoder')
    """

    #: Most addresses the Census service accepts in one file.
    max_batch_size: int = 10_000

    def __init__(
        self,
        *,
        benchmark: str = "Public_AR_Current",
        city: str | None = None,
        state: str | None = None,
        base_url: str = "https://geocoding.geo.census.gov/geocoder",
        client: HttpClient | None = None,
        name: str = "census",
    ) -> None:
        if not str(benchmark).strip():
            msg = (
                f"benchmark {benchmark!r} is blank; pass a Census benchmark name such as "
                "'Public_AR_Current'"
            )
            raise OptionError(msg)
        self.benchmark = str(benchmark).strip()
        self.city = (city or "").strip()
        self.state = (state or "").strip()
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._client = client

    @property
    def url(self) -> str:
        """The batch endpoint."""
        return f"{self.base_url}/locations/addressbatch"

    @property
    def fingerprint(self) -> str:
        """Cache identity: benchmark, city, state and service URL (no secrets)."""
        return (
            f"benchmark={self.benchmark};city={self.city};state={self.state};"
            f"url={redact_url(self.base_url)}"
        )

    def request_csv(self, addresses: pd.DataFrame) -> tuple[bytes, dict[str, Any]]:
        """Return the CSV upload for ``addresses`` and a map of row id -> index label.

        Row ids are ``1..n`` in the order of ``addresses``; blank addresses and
        intersections are left out.

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``address`` and optionally ``zipcode``.

        Returns
        -------
        tuple of (bytes, dict)
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        ids: dict[str, Any] = {}
        zips = addresses.get("zipcode")
        for position, label in enumerate(addresses.index, start=1):
            address = _text(addresses.at[label, "address"])
            if not address or "&" in address:
                continue
            zip_code = _text(zips.at[label]) if zips is not None else ""
            row_id = str(position)
            ids[row_id] = label
            writer.writerow([row_id, address, self.city, self.state, zip_code])
        return buffer.getvalue().encode("utf-8"), ids

    def parse_answer(self, body: bytes, ids: Mapping[str, Any], index: pd.Index) -> pd.DataFrame:
        """Turn the service's CSV answer into the protocol frame.

        Parameters
        ----------
        body : bytes
            The CSV the service returned.
        ids : mapping
            Row id -> index label, from :meth:`request_csv`.
        index : pandas.Index
            Index of the batch (every label gets a row).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`~geo311.geocode.protocol.GEOCODE_COLUMNS` plus ``reason``.

        Raises
        ------
        GeocodeError
            When the body is an HTML page or not the batch CSV format.
        """
        out = _empty_answer(index, self.name)
        out.loc[:, "reason"] = "not sent: blank address or intersection"
        text = body.decode("utf-8-sig", errors="replace")
        head = text.lstrip()[:200].lower()
        if head.startswith(("<!doctype", "<html")) or "<html" in head:
            shown = re.sub(r"<[^>]*>|\s+", " ", text[:400])
            shown = re.sub(r" +", " ", shown).strip()[:120]
            msg = (
                f"POST {redact_url(self.url)} returned an HTML page instead of the batch CSV "
                f"({shown!r}); check base_url "
                f"and benchmark={self.benchmark!r}, or whether the service is down"
            )
            raise GeocodeError(msg)
        for label in ids.values():
            out.at[label, "reason"] = "absent from the Census answer"
        seen = 0
        for fields in csv.reader(io.StringIO(text)):
            if not fields or not any(f.strip() for f in fields):
                continue
            row_id = fields[0].strip()
            if row_id not in ids:
                if seen == 0 and len(fields) < 3:
                    msg = (
                        f"POST {redact_url(self.url)} did not return the batch CSV format "
                        f"(first line {','.join(fields)[:120]!r}); check base_url and "
                        f"benchmark={self.benchmark!r}"
                    )
                    raise GeocodeError(msg)
                continue  # a header line or an id we did not send: ignore it
            seen += 1
            label = ids[row_id]
            status = fields[2].strip().lower() if len(fields) > 2 else ""
            if status == "match":
                kind = fields[3].strip().lower() if len(fields) > 3 else ""
                lon, lat = _census_point(fields[5] if len(fields) > 5 else "")
                if not (math.isfinite(lon) and math.isfinite(lat)):
                    out.at[label, "reason"] = "Census match without usable coordinates"
                    continue
                exact = kind == "exact"
                out.at[label, "lon"] = lon
                out.at[label, "lat"] = lat
                out.at[label, "score"] = 100.0 if exact else CENSUS_NON_EXACT_SCORE
                out.at[label, "match"] = "exact" if exact else "fuzzy"
                out.at[label, "matched_address"] = fields[4].strip() if len(fields) > 4 else None
                out.at[label, "reason"] = None
            elif status == "tie":
                out.at[label, "match"] = "ambiguous"
                out.at[label, "reason"] = "Census answered Tie: several address ranges match"
            elif status in ("no_match", "nomatch", "no match"):
                out.at[label, "reason"] = "Census answered No_Match"
            else:
                out.at[label, "reason"] = f"unrecognised Census status {fields[2:3]!r}"
        return out[[*GEOCODE_COLUMNS, "reason"]]

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        """Geocode up to :attr:`max_batch_size` addresses with one upload.

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``address`` and optionally ``zipcode``, any index.

        Returns
        -------
        pandas.DataFrame
            Same index; the protocol's columns plus ``reason``.

        Raises
        ------
        GeocodeError
            When the batch is too large or the answer cannot be read.
        FetchError
            When the upload failed (after retries).
        """
        if len(addresses) > self.max_batch_size:
            msg = (
                f"the Census batch geocoder takes at most {self.max_batch_size:,} addresses "
                f"per request, got {len(addresses):,}; geocode() splits batches for you"
            )
            raise GeocodeError(msg)
        upload, ids = self.request_csv(addresses)
        if not ids:
            return self.parse_answer(b"", ids, addresses.index)
        body = self.client.post_multipart(
            self.url,
            files={"addressFile": ("addresses.csv", upload, "text/csv")},
            data={"benchmark": self.benchmark},
        )
        return self.parse_answer(body, ids, addresses.index)

    def __repr__(self) -> str:
        return (
            f"CensusBatchGeocoder(benchmark={self.benchmark!r}, city={self.city!r}, "
            f"state={self.state!r}, base_url={redact_url(self.base_url)!r})"
        )


def _census_point(text: str) -> tuple[float, float]:
    """Parse the Census ``"lon,lat"`` field; NaNs when absent or malformed.

    Examples
    --------
    >>> _census_point("-76.61219,39.29038")
    (-76.61219, 39.29038)
    """
    parts = text.split(",")
    if len(parts) != 2:
        return math.nan, math.nan
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        return math.nan, math.nan


# --------------------------------------------------------------------------
# ArcGIS locator
# --------------------------------------------------------------------------


class ArcGISLocator(_Online):
    """An ArcGIS geocode service's ``findAddressCandidates``, one request per address.

    For each address the service is asked for its two best candidates
    (``SingleLine=<address>[, <ZIP>]``, ``maxLocations=2``); then:

    * **none** when no candidate reaches ``min_score`` or the best one is
      coarser than an address (``Addr_type`` in :data:`COARSE_ADDR_TYPES`:
      a ZIP, city or whole-street centroid);
    * **ambiguous** when the two best candidates have the same score but lie
      more than ``tie_tolerance_m`` apart;
    * otherwise **exact** when the best score is 100, else **fuzzy**, with the
      candidate's score and ``Match_addr``.

    Parameters
    ----------
    url : str
        The ``GeocodeServer`` URL (with or without a trailing
        ``/findAddressCandidates``), e.g. a city composite locator.
    min_score : float, default 80
        Lowest candidate score (0-100) accepted.
    out_sr : int, default 4326
        Spatial reference asked of the service.  Coordinates in any other
        reference are projected to WGS84 (with pyproj) before they are returned.
    tie_tolerance_m : float, default 25
        Equal-score candidates closer than this are the same place.
    params : mapping, optional
        Extra query parameters sent with every request (e.g. ``category``,
        ``sourceCountry``, or ``token``, which is never logged or cached under
        its value).
    client : HttpClient, optional
        HTTP client; by default one with the project's timeouts and retries.
    name : str, optional
        Written to ``geocode_source``; ``"arcgis:<service name>"`` by default.

    Examples
    --------
    >>> loc = ArcGISLocator("https://x.org/arcgis/rest/services/Locators/City/GeocodeServer")
    >>> loc.name, loc.max_batch_size
    ('arcgis:City', 100)
    """

    #: Addresses per :meth:`geocode_batch` call (each is its own request);
    #: small, so that :func:`~geo311.geocode.core.geocode` caches progress often.
    max_batch_size: int = 100

    def __init__(
        self,
        url: str,
        *,
        min_score: float = 80,
        out_sr: int = 4326,
        tie_tolerance_m: float = 25.0,
        params: Mapping[str, Any] | None = None,
        client: HttpClient | None = None,
        name: str | None = None,
    ) -> None:
        if not 0 <= min_score <= 100:
            msg = f"min_score must lie in 0-100, got {min_score}; pass a score such as 90"
            raise OptionError(msg)
        base = url.rstrip("/")
        if base.lower().endswith("/findaddresscandidates"):
            base = base[: -len("/findAddressCandidates")]
        self.url = base
        self.min_score = float(min_score)
        self.out_sr = int(out_sr)
        self.tie_tolerance_m = float(tie_tolerance_m)
        self.params = dict(params or {})
        self._client = client
        if name is None:
            parts = [p for p in base.split("/") if p]
            service = parts[-2] if len(parts) >= 2 and parts[-1] == "GeocodeServer" else parts[-1]
            name = f"arcgis:{service}"
        self.name = name
        self._transformer: Any = None

    @property
    def fingerprint(self) -> str:
        """Cache identity: URL (without secrets), threshold, tolerance and extra params."""
        extra = sorted((k, str(v)) for k, v in self.params.items() if "token" not in k.lower())
        return (
            f"url={redact_url(self.url)};min_score={self.min_score:g};out_sr={self.out_sr};"
            f"tie_m={self.tie_tolerance_m:g};params={extra}"
        )

    def _to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """Return (lon, lat) of a point in ``out_sr``."""
        if self.out_sr == 4326:
            return x, y
        if self._transformer is None:
            from pyproj import Transformer  # noqa: PLC0415 - only for other references

            self._transformer = Transformer.from_crs(self.out_sr, 4326, always_xy=True)
        lon, lat = self._transformer.transform(x, y)
        return float(lon), float(lat)

    def candidates(self, single_line: str) -> list[dict[str, Any]]:
        """Return the service's candidates for one address line.

        Parameters
        ----------
        single_line : str
            The address as one line.

        Returns
        -------
        list of dict
            The ``candidates`` array, as the service sent it.

        Raises
        ------
        GeocodeError
            On an ``{"error": ...}`` body or an answer without ``candidates``;
            the message names the URL.
        """
        endpoint = f"{self.url}/findAddressCandidates"
        params = {
            "SingleLine": single_line,
            "outFields": "Addr_type,Match_addr,Score",
            "outSR": str(self.out_sr),
            "f": "json",
            "maxLocations": "2",
            **self.params,
        }
        body = self.client.get_bytes(endpoint, params=params)
        shown = redact_url(endpoint)
        data = decode_json(body, url=shown)
        if isinstance(data, dict) and "error" in data:
            error = data["error"]
            detail = error.get("message", error) if isinstance(error, dict) else error
            extra = error.get("details") if isinstance(error, dict) else None
            if extra:
                detail = f"{detail} ({'; '.join(map(str, extra))[:200]})"
            msg = (
                f"GET {shown} answered with an error: {detail}; check the locator URL "
                "(it must end in /GeocodeServer) and whether the service needs a token"
            )
            raise GeocodeError(msg)
        if not isinstance(data, dict) or not isinstance(data.get("candidates"), list):
            msg = (
                f"GET {shown} did not return findAddressCandidates JSON (no 'candidates' "
                "list); check that the URL is a GeocodeServer"
            )
            raise GeocodeError(msg)
        return list(data["candidates"])

    def _choose(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        """Pick the answer for one address from its candidates."""
        usable: list[tuple[float, float, float, dict[str, Any]]] = []
        for cand in candidates:
            location = cand.get("location") or {}
            try:
                x, y = float(location["x"]), float(location["y"])
                raw = cand.get("score", (cand.get("attributes") or {}).get("Score"))
                score = float(raw)  # type: ignore[arg-type]  # None -> TypeError
            except (KeyError, TypeError, ValueError):
                continue
            if math.isfinite(x) and math.isfinite(y) and math.isfinite(score):
                lon, lat = self._to_wgs84(x, y)
                usable.append((score, lon, lat, cand))
        none: dict[str, Any] = {"match": "none", "score": math.nan}
        if not usable:
            return {**none, "reason": "no candidates"}
        usable.sort(key=lambda item: -item[0])
        score, lon, lat, best = usable[0]
        attributes = best.get("attributes") or {}
        addr_type = str(attributes.get("Addr_type") or "")
        matched = attributes.get("Match_addr") or best.get("address")
        if score < self.min_score:
            return {
                **none,
                "score": score,
                "reason": f"best candidate scored {score:g} < min_score {self.min_score:g}",
            }
        if addr_type in COARSE_ADDR_TYPES:
            return {**none, "score": score, "reason": f"best candidate is a {addr_type} match"}
        if len(usable) > 1:
            score2, lon2, lat2, _ = usable[1]
            apart = _distance_m(lon, lat, lon2, lat2)
            if score2 == score and apart > self.tie_tolerance_m:
                return {
                    "match": "ambiguous",
                    "score": score,
                    "reason": f"two candidates scored {score:g}, {apart:,.0f} m apart",
                }
        return {
            "match": "exact" if score >= 100 else "fuzzy",
            "score": score,
            "lon": lon,
            "lat": lat,
            "matched_address": str(matched) if matched else None,
            "reason": None,
        }

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        """Geocode each address with its own ``findAddressCandidates`` request.

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``address`` and optionally ``zipcode``, any index.

        Returns
        -------
        pandas.DataFrame
            Same index; the protocol's columns plus ``reason``.

        Raises
        ------
        GeocodeError
            On an error body from the service (the whole batch fails, so
            nothing of it is cached).
        FetchError
            When a request failed after retries.
        """
        out = _empty_answer(addresses.index, self.name)
        zips = addresses.get("zipcode")
        for label in addresses.index:
            address = _text(addresses.at[label, "address"])
            if not address:
                out.at[label, "reason"] = "blank address"
                continue
            zip_code = _text(zips.at[label]) if zips is not None else ""
            line = f"{address}, {zip_code}" if zip_code else address
            answer = self._choose(self.candidates(line))
            for column, value in answer.items():
                out.at[label, column] = value
        return out[[*GEOCODE_COLUMNS, "reason"]]

    def __repr__(self) -> str:
        return f"ArcGISLocator({redact_url(self.url)!r}, min_score={self.min_score:g})"
