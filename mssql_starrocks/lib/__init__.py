"""What the three steps share: the tables file (config, tables), the per-table run locks, the
Spark session, and the steps themselves (pipeline), which ask the table's load mode (modes/)
and call the systems (source/, lake/, target/)."""
