"""Retrieval side of the demo: text helpers, service probes and the task executor."""
