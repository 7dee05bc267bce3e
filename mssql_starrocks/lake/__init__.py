"""The Iceberg lake: catalogs (Glue or local), snapshots, commits, and the migration state the
snapshots carry (state.py). I/O only; what to commit is decided by the load modes."""
