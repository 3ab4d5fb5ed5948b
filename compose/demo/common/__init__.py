"""Helpers shared by the API server, the task executor and the parsers."""
