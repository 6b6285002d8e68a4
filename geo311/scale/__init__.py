"""Beyond one frame in memory: the out-of-core run and its Dask path.

:func:`geo311.pipeline.run` with ``chunk_rows=`` (``geo311 run --chunk-rows``)
or ``scheduler=`` (``--scheduler local:N | tcp://HOST:PORT``) goes through
this package instead of holding every request with its geometry:

1. **ingest** (:mod:`geo311.scale.parts`): each chunk the reader normalizes
   is written to a Parquet part on disk; only the columns the cross-row
   cleaning reads (ids, times, status, point, address, service type) are kept,
   and :func:`geo311.clean_requests` runs once on them -- the same function on
   the same values as in memory, so repeated ids, placeholder points and time
   flags are exactly the in-memory ones;
2. **join** (:mod:`geo311.scale.stream`): each part is read back, given the
   cleaning's verdict (rows kept, ``coord_quality``, ``qa_flags``, point),
   joined to the layers already loaded and reduced to the *compact* columns
   the indicators read (no geometry, coordinates or free text) -- one part at
   a time in this process, or on the workers of a Dask cluster
   (:mod:`geo311.scale.cluster`);
3. **indicators**: the compact parts are concatenated and tabulated by the
   same :func:`geo311.indicators.tables.build_tables`, so every table equals
   the in-memory run's by construction; the per-part row ledgers add up
   (:mod:`geo311.scale.combine`).

What still grows with history: the cleaning's key columns (during the ingest)
and the compact columns (from the join on); the geometry, coordinates and free
text of the requests never all sit in memory at once.
"""
