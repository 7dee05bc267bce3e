"""SQL Server, the source: the client (catalog, counts, queries) and how an extract is split. I/O only."""
