"""Local stand-ins for SQL Server (TDS), StarRocks (MySQL protocol + Stream Load) and S3 + Glue.

Development and test infrastructure only: the product never imports this package; it gets
host/port settings from the env file that `python -m mssql_starrocks_devservers up` writes.
See docs/devservers.md for what each stand-in supports and what it does not.
"""
