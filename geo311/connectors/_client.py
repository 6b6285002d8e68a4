"""A small HTTP client for the data connectors, over httpx (the ``fetch`` extra).

What it adds to a bare ``httpx.Client``:

* timeouts (``GEO311_HTTP_TIMEOUT`` seconds, default 60) and a descriptive
  ``User-Agent``;
* bounded retries with exponential backoff and full jitter on HTTP 429 and
  5xx, connection errors, dropped connections and timeouts, honouring a
  ``Retry-After`` header (seconds or an HTTP date, capped);
* an optional rate limit (requests per second);
* an optional on-disk cache of JSON responses keyed by method, URL and
  parameters (secrets are left out of the key), bypassed by ``refresh=True``;
* JSON decoding that turns an HTML page served with status 200 into a
  :class:`FetchError` naming the URL, and asks again for a body cut short
  mid-JSON (:class:`CutShortError`) with the same backoff and budget as a
  dropped connection;
* secret hygiene: query parameters and headers whose names look like
  credentials (app tokens, API keys, ``$$app_token``, ``Authorization``) are
  sent but never logged, cached under a readable name, written to sidecars or
  put in error messages.

:func:`write_provenance` writes the ``<file>.provenance.json`` sidecar that
records where a fetched artefact came from.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from geo311._errors import ConfigError, FetchError, OptionError
from geo311.io.atomic import atomic_write
from geo311.settings import cache_dir

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CutShortError",
    "Decoder",
    "FetchError",
    "HttpClient",
    "geo311_version",
    "is_secret",
    "redact_params",
    "redact_url",
    "sha256_file",
    "write_provenance",
]

log = logging.getLogger(__name__)


class CutShortError(FetchError):
    """A response body that stops mid-JSON: asked for again like a dropped connection."""


class Decoder(Protocol):
    """Turns a response body into a value, or raises FetchError (CutShortError to retry)."""

    def __call__(self, body: bytes, *, url: str, content_type: str = "") -> Any:
        """Decode ``body`` fetched from ``url`` (already free of secrets)."""


#: Where the project lives, quoted in the User-Agent so operators can reach us.
PROJECT_URL = "https://github.com/geo311/geo311"
#: HTTP statuses worth retrying: rate limiting and transient server trouble.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
#: Names (of query parameters or headers) whose values are credentials.
#: A parameter named just ``key`` (the Census API's) is one too.
_SECRET_NAME = re.compile(
    r"(^key$|token|api[_-]?key|apikey|secret|passw(or)?d|authorization|signature|access[_-]?key)",
    re.IGNORECASE,
)
_REDACTED = "REDACTED"
_DEFAULT_TIMEOUT = 60.0


_SECRET_IN_TEXT = re.compile(
    r"(?P<name>[?&](key|[^=&\s\"']*(token|api[_-]?key|apikey|secret|passw(or)?d|signature|"
    r"access[_-]?key)[^=&\s\"']*)=)[^&\s\"']+",
    re.IGNORECASE,
)


class _RedactSecrets(logging.Filter):
    """Scrub credential-like query values from records of httpx's own request log."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = _SECRET_IN_TEXT.sub(rf"\g<name>{_REDACTED}", text)
        if cleaned != text:
            record.msg, record.args = cleaned, ()
        return True


def _guard_library_logs() -> None:
    """Attach the secret filter to the httpx/httpcore loggers (once)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
            logger.addFilter(_RedactSecrets())


def _httpx() -> ModuleType:
    """Import httpx lazily, or raise ImportError naming the extra to install."""
    try:
        import httpx  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = "fetching data needs httpx: pip install 'geo311[fetch]'"
        raise ImportError(msg) from exc
    return httpx


def geo311_version() -> str:
    """Return the installed geo311 version (``0+unknown`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("geo311")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def default_user_agent() -> str:
    """Return ``geo311/<version> (+<project url>)``."""
    return f"geo311/{geo311_version()} (+{PROJECT_URL})"


def default_timeout() -> float:
    """Return the HTTP timeout in seconds from ``GEO311_HTTP_TIMEOUT`` (default 60)."""
    value = os.environ.get("GEO311_HTTP_TIMEOUT", "").strip()
    if not value:
        return _DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        msg = f"GEO311_HTTP_TIMEOUT={value!r} is not a number of seconds; unset it or fix it"
        raise ConfigError(msg) from None
    if seconds <= 0:
        msg = (
            f"GEO311_HTTP_TIMEOUT={value!r} must be a positive number of seconds; fix or unset it"
        )
        raise ConfigError(msg)
    return seconds


def is_secret(name: str) -> bool:
    """Return True when a parameter or header name looks like a credential.

    Examples
    --------
    >>> is_secret("$$app_token"), is_secret("X-App-Token"), is_secret("key")
    (True, True, True)
    >>> is_secret("$where")
    False
    """
    return bool(_SECRET_NAME.search(name))


def redact_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``params`` without credential-like entries (they are dropped, not masked).

    Examples
    --------
    >>> redact_params({"$limit": 10, "$$app_token": "abc"})
    {'$limit': 10}
    """
    return {k: v for k, v in (params or {}).items() if not is_secret(str(k))}


def redact_url(url: str) -> str:
    """Return ``url`` with credential-like query values and any user:password removed.

    Examples
    --------
    >>> redact_url("https://x.org/r.json?api_key=s3cret&page=2")
    'https://x.org/r.json?api_key=REDACTED&page=2'
    """
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (k, _REDACTED if is_secret(k) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="$,*:/"), ""))


def _show(url: str, params: Mapping[str, Any] | None) -> str:
    """Return a readable URL with the non-secret ``params`` appended, for logs and errors."""
    shown = redact_params(params)
    base = redact_url(url)
    if not shown:
        return base
    sep = "&" if "?" in base else "?"
    return base + sep + urlencode({k: str(v) for k, v in shown.items()}, safe="$,*:/")


def _parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (None when absent or unreadable).

    Examples
    --------
    >>> _parse_retry_after("7")
    7.0
    >>> _parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class HttpClient:
    """GET JSON with timeouts, bounded retries, a rate limit and an optional cache.

    Parameters
    ----------
    timeout : float, optional
        Seconds for connect/read/write/pool; ``GEO311_HTTP_TIMEOUT`` or 60.
    retries : int, default 4
        Further attempts after the first failure of a retryable kind.
    backoff : float, default 0.5
        Base delay in seconds; attempt *n* waits up to ``backoff * 2**n``
        (full jitter), never more than ``max_backoff``.
    max_backoff : float, default 30
        Cap of one computed backoff delay.
    max_retry_after : float, default 120
        Cap of a server's ``Retry-After``; a longer wait is shortened to this.
    rate_limit : float, optional
        Maximum requests per second (None: unlimited).
    cache : bool, default False
        Keep JSON responses on disk under ``cache_path``.
    cache_path : path, optional
        Cache directory; ``settings.cache_dir() / "http"`` by default.
    cache_max_age : float, optional
        Seconds after which a cached response is stale and fetched again.
    refresh : bool, default False
        Ignore cached responses (fresh answers still replace them).
    user_agent : str, optional
        ``geo311/<version> (+<project url>)`` by default.
    headers : mapping, optional
        Extra headers for every request (credentials are fine here: never logged).
    sleep : callable, optional
        Function used to wait (``time.sleep``); tests pass a recorder.
    transport : httpx.BaseTransport, optional
        For tests only.

    Examples
    --------
    >>> with HttpClient(retries=0) as client:  # doctest: +SKIP
    ...     meta = client.get_json("https://example.org/FeatureServer/0", params={"f": "json"})
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        rate_limit: float | None = None,
        cache: bool = False,
        cache_path: str | Path | None = None,
        cache_max_age: float | None = None,
        refresh: bool = False,
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        httpx = _httpx()
        _guard_library_logs()
        if retries < 0:
            msg = f"retries must be 0 or more, got {retries}"
            raise OptionError(msg)
        if rate_limit is not None and rate_limit <= 0:
            msg = f"rate_limit must be a positive number of requests per second, got {rate_limit}"
            raise OptionError(msg)
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.rate_limit = rate_limit
        self.cache = cache
        self.cache_path = Path(cache_path) if cache_path is not None else cache_dir() / "http"
        self.cache_max_age = cache_max_age
        self.refresh = refresh
        self.user_agent = user_agent or default_user_agent()
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._last_request = 0.0
        #: Number of requests actually sent over the network (cache hits excluded).
        self.requests_sent = 0
        base_headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        base_headers.update(headers or {})
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            headers=base_headers,
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # -- cache ---------------------------------------------------------------------------------

    def _cache_file(self, method: str, url: str, params: Mapping[str, Any] | None) -> Path:
        """Return the cache file of a request: a digest of method, URL and non-secret params."""
        parts = urlsplit(url)
        query = sorted(
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_secret(k)
        )
        query += sorted((str(k), str(v)) for k, v in redact_params(params).items())
        bare = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
        key = json.dumps([method.upper(), bare, query], separators=(",", ":"))
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_path / digest[:2] / f"{digest}.json"

    def _cache_read(self, path: Path) -> bytes | None:
        if self.refresh or not path.is_file():
            return None
        if (
            self.cache_max_age is not None
            and time.time() - path.stat().st_mtime > self.cache_max_age
        ):
            return None
        return path.read_bytes()

    def _cache_write(self, path: Path, body: bytes) -> None:
        with atomic_write(path) as tmp:
            tmp.write_bytes(body)

    # -- requests ------------------------------------------------------------------------------

    def _throttle(self) -> None:
        if not self.rate_limit:
            return
        with self._lock:
            wait = self._last_request + 1.0 / self.rate_limit - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last_request = time.monotonic()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter, not cryptography

    def get_bytes(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """GET ``url`` and return the body, retrying transient failures.

        Parameters
        ----------
        url : str
        params : mapping, optional
            Query parameters (values are converted with ``str``).
        headers : mapping, optional
            Extra headers for this request.

        Returns
        -------
        bytes

        Raises
        ------
        FetchError
            On a non-retryable status (4xx other than 408/425/429), or when
            every attempt failed; the message names the URL without secrets.
        """
        return self._get(url, params=params, headers=headers)[0].content

    def _get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        decode: Decoder | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send with retries; return the successful response and its decoded body.

        ``decode(body, url=..., content_type=...)`` (None: no decoding) turns
        the body into the value returned; a body it finds cut short
        (:class:`CutShortError`) is retried like a dropped connection.
        ``method``, ``files`` and ``data`` serve :meth:`post_multipart`.
        """
        httpx = _httpx()
        shown = _show(url, params)
        query = {k: str(v) for k, v in (params or {}).items()}
        problem = ""
        cut: CutShortError | None = None
        for attempt in range(self.retries + 1):
            self._throttle()
            retry_after: float | None = None
            cut = None
            started = time.monotonic()
            try:
                self.requests_sent += 1
                response = self._client.request(
                    method, url, params=query, headers=headers, files=files, data=data
                )
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout:g} s"
            except httpx.TransportError as exc:
                # connection refused/reset, or the connection dropped mid-body
                problem = f"connection failed ({type(exc).__name__}: {_clean(exc, url)})"
            else:
                status = response.status_code
                if status < 400:
                    log.debug(
                        "%s %s -> %d (%s bytes, %.2f s)",
                        method,
                        shown,
                        status,
                        f"{len(response.content):,}",
                        time.monotonic() - started,
                    )
                    if decode is None:
                        return response, None
                    try:
                        content_type = response.headers.get("content-type", "")
                        return response, decode(
                            response.content, url=shown, content_type=content_type
                        )
                    except CutShortError as exc:  # a 200 whose body stops mid-JSON
                        cut = exc
                        problem = f"the body was cut short ({len(response.content):,} bytes)"
                else:
                    problem = f"HTTP {status} {response.reason_phrase}".rstrip()
                    if status not in RETRY_STATUSES:
                        detail = _error_detail(response.content)
                        hint = _status_hint(status)
                        msg = f"{method} {shown} failed: {problem}{detail}; {hint}"
                        raise FetchError(msg)
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if attempt == self.retries:
                break
            delay = self._delay(attempt, retry_after)
            log.warning(
                "%s %s: %s; retry %d of %d in %.1f s",
                method,
                shown,
                problem,
                attempt + 1,
                self.retries,
                delay,
            )
            self._sleep(delay)
        if cut is not None:
            msg = f"{cut} [{self.retries + 1} attempt(s)]"
            raise FetchError(msg)
        msg = (
            f"{method} {shown} failed after {self.retries + 1} attempt(s): {problem}. "
            "The server may be down or rate-limiting; try again later, lower the page size, "
            "or raise the timeout (GEO311_HTTP_TIMEOUT)."
        )
        raise FetchError(msg)

    def post_multipart(
        self,
        url: str,
        *,
        files: Mapping[str, tuple[str, bytes, str]],
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """POST a ``multipart/form-data`` body and return the response body.

        Retries, backoff, rate limit and secret redaction are those of
        :meth:`get_bytes`; nothing is cached.  An upload is re-sent whole on
        each retry, so the server must treat it as idempotent (a batch
        geocoder does).

        Parameters
        ----------
        url : str
        files : mapping
            Form field name -> ``(filename, content, content_type)``.
        data : mapping, optional
            Plain form fields.
        headers : mapping, optional
            Extra headers for this request.

        Returns
        -------
        bytes

        Raises
        ------
        FetchError
            As :meth:`get_bytes`; the message says ``POST`` and names the URL.
        """
        response, _ = self._get(
            url, headers=headers, method="POST", files=dict(files), data=dict(data or {})
        )
        return bytes(response.content)

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        cache: bool | None = None,
        decode: Decoder | None = None,
    ) -> Any:
        """GET ``url`` and decode its JSON body, from the cache when allowed.

        A body that is cut short (status 200 but incomplete JSON) is asked
        for again, with the same backoff and budget as a dropped connection.

        Parameters
        ----------
        url : str
        params, headers : mapping, optional
            As in :meth:`get_bytes`.
        cache : bool, optional
            Override the client's ``cache`` setting for this request.
        decode : callable, optional
            ``decode(body, *, url, content_type)`` for services whose error
            answers need their own words; :func:`decode_json` by default.  It
            raises :class:`CutShortError` for a body worth asking for again.

        Returns
        -------
        object
            The decoded JSON.

        Raises
        ------
        FetchError
            As :meth:`get_bytes`, or when the body is an HTML page or not JSON.
        """
        use_cache = self.cache if cache is None else cache
        cache_file = self._cache_file("GET", url, params) if use_cache else None
        if cache_file is not None:
            body = self._cache_read(cache_file)
            if body is not None:
                try:
                    data = json.loads(body)
                except ValueError:
                    log.warning("ignoring a corrupt cache entry %s", cache_file)
                else:
                    log.debug("GET %s served from the cache", _show(url, params))
                    return data
        response, data = self._get(
            url, params=params, headers=headers, decode=decode or decode_json
        )
        if cache_file is not None:
            self._cache_write(cache_file, response.content)
        return data


def decode_json(body: bytes, *, url: str, content_type: str = "") -> Any:
    """Decode a JSON body or raise FetchError naming ``url`` (already free of secrets).

    Malformed JSON raises :class:`CutShortError`, which :meth:`HttpClient.get_json`
    retries; an HTML page (a portal or maintenance page served with status 200)
    raises a plain FetchError at once.

    Examples
    --------
    >>> decode_json(b'{"a": 1}', url="https://x.org")
    {'a': 1}
    >>> decode_json(b"<html><body>Down</body></html>", url="https://x.org")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo311._errors.FetchError: GET https://x.org returned an HTML page where JSON was expected ...
    """
    if _looks_like_html(body, content_type):
        text = re.sub(
            r"\s+", " ", re.sub(rb"<[^>]*>", b" ", body[:2000]).decode("utf-8", "replace")
        )
        msg = (
            f"GET {url} returned an HTML page where JSON was expected ({text.strip()[:120]!r}); "
            "check the URL (a portal page instead of the API endpoint?) or whether the service "
            "is down for maintenance"
        )
        raise FetchError(msg)
    try:
        return json.loads(body)
    except ValueError as exc:
        msg = (
            f"GET {url} returned malformed JSON ({exc}; {len(body):,} bytes); the response was "
            "probably cut short, try again (pass refresh=True if it came from the cache)"
        )
        raise CutShortError(msg) from exc


def _clean(exc: Exception, url: str) -> str:
    """Return an exception's text with the raw (possibly secret-bearing) URL replaced."""
    return str(exc).replace(url, redact_url(url))[:200]


def _error_detail(body: bytes) -> str:
    """Return a short ``: <message>`` from a JSON or text error body, or ''."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        text = re.sub(
            r"\s+", " ", re.sub(rb"<[^>]*>", b" ", body[:500]).decode("utf-8", "replace")
        )
        return f": {text.strip()[:160]}" if text.strip() else ""
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict):
            for key in ("message", "description", "detail"):
                if inner.get(key):
                    return f": {str(inner[key])[:200]}"
    if isinstance(data, list) and data and isinstance(data[0], dict) and "description" in data[0]:
        return f": {str(data[0]['description'])[:200]}"
    return ""


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "the service refused access: check the credential's environment variable"
    if status == 404:
        return "check the URL (dataset id, layer number or endpoint path)"
    if status == 400:
        return "the server rejected the query: check the where clause, field names and dates"
    return "check the URL and the query"


def write_provenance(
    path: str | Path,
    *,
    source_url: str,
    params: Mapping[str, Any] | None,
    rows: int,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<path>.provenance.json`` describing where a fetched file came from.

    Parameters
    ----------
    path : path
        The fetched artefact, already written (its sha256 is recorded).
    source_url : str
        Where it came from; credentials in the query string are redacted.
    params : mapping, optional
        The query parameters; credential-like entries are dropped.
    rows : int
        Rows or features in the file.
    extra : mapping, optional
        Further JSON-serialisable facts (pages, connector, time window ...);
        credential-like keys are dropped here too.

    Returns
    -------
    pathlib.Path
        The sidecar path.
    """
    path = Path(path)
    record: dict[str, Any] = {
        "file": path.name,
        "source_url": redact_url(source_url),
        "params": redact_params(params),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": int(rows),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "geo311_version": geo311_version(),
    }
    record.update(redact_params(extra))
    sidecar = path.with_name(f"{path.name}.provenance.json")
    with atomic_write(sidecar) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return sidecar
