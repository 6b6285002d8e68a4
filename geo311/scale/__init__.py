"""Beyond one frame in memory: the out-of-core run and its Dask path.

:func:`geo311.pipeline.run` with ``chunk_rows=`` (``geo311 run --chunk-rows``)
or ``scheduler=`` (``--scheduler local:N | tcp://HOST:PORT``) goes through
this package instead of holding every request with its geometry:

1. **ingest** (:mod:`geo311.scale.parts`): each chunk the reader normalizes
   is written to a Parquet part on disk; in memory stay only a 64-bit hash of
   each request id and the columns the type selection and layer choice read
   (service types, request time).  The cross-row cleaning
   (:mod:`geo311.scale.clean`) then decides from summaries and from the few
   rows it reads back -- those of repeated ids, those at candidate placeholder
   points -- exactly what :func:`geo311.clean_requests` decides on the whole
   frame (repeated ids, placeholder points, time flags);
2. **join** (:mod:`geo311.scale.stream`): each part is read back, given the
   cleaning's verdict (rows kept, placeholder points, time flags, point),
   joined to the layers already loaded and reduced to the *compact* columns
   the indicators read (no geometry, coordinates or free text) -- in this
   process and a forked child (on Linux with 2+ CPUs: this process takes the
   parts from the front, the child from the back, until they meet), or on the
   workers of a Dask cluster
   (:mod:`geo311.scale.cluster`); with ``dataset=`` each joined part is
   also kept as a GeoParquet file (:mod:`geo311.scale.dataset`);
3. **indicators**: the compact parts are concatenated and tabulated by the
   same :func:`geo311.indicators.tables.build_tables`, so every table equals
   the in-memory run's by construction; the per-part row ledgers add up
   (:mod:`geo311.scale.combine`).

What still grows with history: the id hashes and selection columns (during
the ingest), the compact columns (from the join on) and the indicators'
arrays over the selected requests (flags, durations, their time order, the
citywide curve); the geometry, coordinates and free text of the requests
never all sit in memory at once, and the indicators' Kaplan-Meier fits and
local-time conversions work on a batch of about a million requests at a time
(:func:`geo311.indicators.survival_batches.curve_batches`).
"""
