"""What the `mssql-starrocks` command shows on the terminal, and what it keeps out of it.

- problems.py: every failure as one block (what failed, why in one line, what to do, the log file).
- session.py: the log file of a command; Dagster's event log, Spark's output and tracebacks go
  there unless `--verbose`.
- progress.py: a run's steps read from its event log (rows, rows/s, seconds) and the closing summary.
- view_live.py / view_lines.py: the two ways to show a run's steps (a live table on a terminal,
  one line per finished step elsewhere).
- runner.py: a run in a worker thread, watched and stoppable with Ctrl-C.
"""
