"""Garbage collection for a serving process.

A GraphQL response allocates tens of thousands of short-lived objects (results, paths,
tasks). With CPython's default thresholds the collector then runs so often, and scans so
many long-lived objects (the schemas, SQLAlchemy's mappers, imported modules), that under
concurrent requests it took about half of the process's time (bench/read_paths.py; see
docs/performance.md). Called once, after the app is built and before serving:
everything alive then lives as long as the process and is left out of collections
(`gc.freeze`), and young collections run less often.
"""

import gc

# Young collections every 10,000 net allocations instead of 700; the older generations
# keep CPython's rhythm relative to it.
THRESHOLDS = (10_000, 50, 1_000)


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
