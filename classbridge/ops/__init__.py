"""What operators run and watch: request ids, logs, health, metrics (docs/deploy.md).

Knows the models (the metrics read the queues from the database) but never graph/ or
jobs/, so the server, the worker and the CLI can all use it.
"""
