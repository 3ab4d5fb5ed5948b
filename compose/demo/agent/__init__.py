"""Agent canvas (a stub: the demo has no agents)."""
