"""The push tests' fixtures (aggregator simulator, a queue of the test's own)."""

from tests.jobs.conftest import queue, receiver

__all__ = ["queue", "receiver"]
