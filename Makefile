# The commands of the README: `make demo`, `make test` (everything) and `make test-fast` (no servers,
# no Spark, no subprocesses; under two minutes). All set everything up first.
.PHONY: demo test test-fast dagit down bootstrap benchmark

bootstrap:
	scripts/bootstrap.sh

demo:
	scripts/demo.sh

test: bootstrap
	.venv/bin/python -m pytest -q

test-fast: bootstrap
	.venv/bin/python -m pytest -q -m "not integration"

dagit: bootstrap
	scripts/dagit.sh

down:
	.venv/bin/python -m mssql_starrocks_devservers down

benchmark: bootstrap
	.venv/bin/python benchmarks/run.py $(if $(ROWS),--rows $(ROWS),)
