# The two commands of the README: `make demo` and `make test`. Both set everything up first.
.PHONY: demo test dagit down bootstrap benchmark

bootstrap:
	scripts/bootstrap.sh

demo:
	scripts/demo.sh

test: bootstrap
	.venv/bin/python -m pytest -q

dagit: bootstrap
	scripts/dagit.sh

down:
	.venv/bin/python -m mssql_starrocks_devservers down

benchmark: bootstrap
	.venv/bin/python benchmarks/run.py $(if $(ROWS),--rows $(ROWS),)
