"""StarRocks, the target: the client (SQL and Stream Load HTTP), loads from Spark (full reload
or delta) and the JSON rows they send. I/O only."""
