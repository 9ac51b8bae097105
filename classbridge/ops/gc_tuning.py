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

# Young collections every 10,000 net allocations instead of 700. Generation 1 every 10 of
# them, as CPython does: each object that survives a young collection is traced once
# there whatever the threshold, so a lower one pauses as long in all but in shorter
# pauses. At 50 the first generation-1 collection after 1,000 live subscriptions had
# connected paused the process for ~250 ms (docs/performance.md, "young-generation
# collection"). The full collection keeps its rhythm: every 50,000 young collections.
THRESHOLDS = (10_000, 10, 5_000)


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
