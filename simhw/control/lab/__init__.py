"""The lab store: every bench daemon's records replicated to one PostgreSQL, queried and exported there,
and a controller that addresses the lab's benches by name (docs/lab.md).

The daemon's own SQLite store stays the authority for acknowledgements; the lab database is never on
the push/ack path. :mod:`.replicator` ships the store's outbox in commit order, :mod:`.schema` holds
the lab database's versioned migrations, :mod:`.lab_store` its queries, :mod:`.exports` the files
people use (Touchstone, xarray/NetCDF, CSV), :mod:`.controller` the many-bench client.
"""
