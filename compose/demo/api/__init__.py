"""The demo's HTTP API: server entry point in ragflow_server.py, routes in apps/."""
