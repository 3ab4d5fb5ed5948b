"""Route registry. Every module named *_app.py in this folder is imported at start-up
and registers its handlers with @route; an error in any of them stops the server."""
import importlib
import os
import time

# path -> handler(); a handler returns (status, content_type, body: bytes | str | dict)
ROUTES: dict = {}

# Filled in by the server at start-up.
SERVER_INFO = {"started": time.time()}


def route(*paths: str):
    def register(func):
        for path in paths:
            ROUTES[path] = func
        return func

    return register


def load_apps() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(name[:-3] for name in os.listdir(here) if name.endswith("_app.py"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
