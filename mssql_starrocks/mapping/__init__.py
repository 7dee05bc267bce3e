"""How a SQL Server table maps onto Iceberg and StarRocks: types, names, the schema plan, schema
evolution and the column profile both sides are compared by. No I/O."""
